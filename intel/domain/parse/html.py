"""Feed HTML made safe to store and show, with nh3: sanitised summaries and plain text.

A summary keeps basic formatting and http(s) links only (with rel="noopener nofollow"); titles,
categories and every other field are plain text, tags stripped and entities decoded.
"""

import functools
import html
import re
from typing import Any

import nh3

LINK_SCHEMES = ("http", "https")  # the only schemes a stored link or a summary's href may have
SUMMARY_TAGS = {"a", "b", "strong", "i", "em", "u", "p", "br", "ul", "ol", "li", "blockquote", "code", "pre"}
SUMMARY_TAGS |= {"dl", "dt", "dd", "h3", "h4", "h5", "h6", "small", "sub", "sup"}
_DROP_WITH_CONTENT = {"script", "style"}
_BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|dl|dt|dd|h\d|blockquote|pre|tr|td|th|table)\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_TEXT_CLEANER = nh3.Cleaner(tags=set(), clean_content_tags=_DROP_WITH_CONTENT, attributes={})


def sanitise_html(source: str, base_url: str | None) -> str:
    """Basic formatting and http(s) links only, with rel="noopener nofollow"."""
    if not source:
        return ""
    return _summary_cleaner(base_url).clean(source).strip()


@functools.lru_cache(maxsize=64)
def _summary_cleaner(base_url: str | None) -> nh3.Cleaner:
    """The summaries' cleaner for a feed's address: made once, not once per item (as _TEXT_CLEANER is)."""
    return nh3.Cleaner(
        tags=SUMMARY_TAGS,
        clean_content_tags=_DROP_WITH_CONTENT,
        # "*": none on every tag; without it nh3 keeps title and lang everywhere.
        attributes={"a": {"href"}, "*": set()},
        url_schemes=set(LINK_SCHEMES),
        link_rel="noopener nofollow",
        url_relative=("rewrite_with_base", base_url) if base_url else "deny",
    )


def plain_text(value: Any) -> str:
    """Tags (and the content of script and style) stripped, entities decoded, spaces collapsed."""
    if not isinstance(value, str) or not value:
        return ""
    return _SPACES.sub(" ", html.unescape(_TEXT_CLEANER.clean(value))).strip()


def html_to_text(sanitised: str) -> str:
    """A sanitised summary as plain text, a space where a block ended."""
    if not sanitised:
        return ""
    return plain_text(_BLOCK_TAG.sub(" ", sanitised))
