"""The document as a whole, before and after feedparser: entity refusal, well-formedness, truncation.

XML safety. feedparser 6.0.14 on its own is not safe against entity expansion: it keeps entity
declarations whose value is plain text, and when expat then refuses the document its fallback
parser expands them itself, so one 100 kB entity referenced 20,000 times becomes a 2 GB string
(bench/README.md has what that cost when measured). Its DOCTYPE filter also misses a DOCTYPE
placed after a comment that contains a tag. So `parse` refuses, before feedparser sees it, any document
that declares an entity (`<!ENTITY` anywhere, in the raw bytes or in the UTF-8 text feedparser
would convert them to). Feeds have no use for entity declarations; the one cost is a feed quoting
"<!ENTITY" literally inside CDATA, which is refused too. External DTDs are never fetched
(feedparser strips the DOCTYPE and turns external entities off).
"""

import re
import xml.sax
from xml.parsers.expat import errors as expat_errors

import feedparser
from feedparser.encodings import convert_to_utf8

_ENTITY_DECLARATION = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_TRUNCATION_MESSAGES = {
    expat_errors.XML_ERROR_NO_ELEMENTS,
    expat_errors.XML_ERROR_UNCLOSED_TOKEN,
    expat_errors.XML_ERROR_PARTIAL_CHAR,
    expat_errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
}
_ENTRY_OPEN = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]", re.IGNORECASE)
_ENTRY_CLOSE = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>", re.IGNORECASE)


def declares_entities(body: bytes) -> bool:
    """True if the document declares an entity, in its raw bytes or in feedparser's UTF-8 view."""
    if _ENTITY_DECLARATION.search(body):
        return True
    for encoding in _wide_encodings(body):
        try:
            if _ENTITY_DECLARATION.search(body.decode(encoding, "ignore").encode("utf-8")):
                return True
        except LookupError:
            continue
    try:
        converted = convert_to_utf8({}, body, {})
    except Exception:  # the parser would fail on the same bytes later; the raw scan above stands
        return False
    return bool(_ENTITY_DECLARATION.search(converted))


def _wide_encodings(body: bytes) -> list[str]:
    """Encodings in which '<!ENTITY' would not appear as ASCII bytes."""
    head = body[:4]
    candidates = []
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")) or b"\x00\x00" in head:
        candidates.append("utf-32")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates.append("utf-16")
    elif b"\x00" in head:
        candidates += ["utf-16-le", "utf-16-be"]
    if head.startswith(b"\x4c\x6f\xa7\x94"):
        candidates.append("cp037")
    return candidates


def document_problem(raw) -> tuple[str | None, bool, bool]:
    """(problem, malformed, truncated) from feedparser's bozo flag."""
    exc = raw.get("bozo_exception")
    if not raw.get("bozo") or exc is None:
        return None, False, False
    if isinstance(exc, feedparser.CharacterEncodingOverride):
        return f"character encoding: {exc}", False, False
    if isinstance(exc, feedparser.NonXMLContentType):
        return f"content type: {exc}", False, False
    if isinstance(exc, xml.sax.SAXParseException):
        message = exc.getMessage()
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        return f"not well-formed XML ({where}): {message}", True, message in _TRUNCATION_MESSAGES
    return f"{type(exc).__name__}: {exc}", True, False


def last_entry_cut_off(body: bytes) -> bool:
    """Whether the last <item>/<entry> of a truncated document was left open."""
    last_open = max((m.start() for m in _ENTRY_OPEN.finditer(body)), default=-1)
    last_close = max((m.start() for m in _ENTRY_CLOSE.finditer(body)), default=-1)
    if last_open < 0:
        return True  # not an ASCII-compatible encoding, or no markup to go by: assume the worst
    return last_open > last_close


def namespace_prefixes(raw, matches) -> list[str]:
    """The prefixes the document gives the namespaces `matches` accepts."""
    namespaces = raw.get("namespaces") or {}
    return [prefix for prefix, uri in namespaces.items() if prefix and isinstance(uri, str) and matches(uri)]
