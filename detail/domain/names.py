"""Names, call signs and codes are read at a glance, on boards and over the radio: they hold only what shows.

Direction controls (U+202A–U+202E, U+2066–U+2069) reorder the text after them, and zero-width and
other invisible characters (U+200B–U+200F, U+2060, U+FEFF, …) change a name without changing how it
looks, so "Bravo 1" could be made to look like another agent's call sign, or a code like another
code. One rule, here, refuses them wherever such a name comes in: the API's schemas, the admin
forms and the command line, each naming the field.
"""

import unicodedata

import marshmallow

# Invisible characters outside the format (Cf) and separator categories: the combining grapheme
# joiner, Hangul fillers, Khmer inherent vowels, the Mongolian vowel separator, the braille blank.
_INVISIBLE = frozenset({0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x2800, 0x3164, 0xFFA0})


def _hidden(character: str) -> bool:
    category = unicodedata.category(character)
    if category == "Zs":
        return character != " "  # spaces that look like a space but compare as something else
    return category in ("Cf", "Zl", "Zp") or ord(character) in _INVISIBLE


# The zero-width non-joiner and joiner are spelling in Persian, Arabic and the Indic scripts
# ("می‌خواهم"): allowed between two letters of such a script, where they change the letters'
# shapes, never next to a Latin letter, where they would change nothing that shows.
_JOINERS = frozenset({0x200C, 0x200D})


def _script_letter(character: str) -> bool:
    return unicodedata.category(character).startswith("L") and not unicodedata.name(character, "").startswith("LATIN")


def _spelling_joiner(text: str, index: int) -> bool:
    if ord(text[index]) not in _JOINERS or index == 0 or index == len(text) - 1:
        return False
    before = index - 1
    while before > 0 and unicodedata.category(text[before]).startswith("M"):
        before -= 1  # a virama or vowel sign sits between the letter and the joiner
    return _script_letter(text[before]) and _script_letter(text[index + 1])


def invisible_character(text: str) -> str | None:
    """Why text cannot be a name (its first hidden or direction-changing character), or None."""
    for index, character in enumerate(text):
        if _hidden(character) and not _spelling_joiner(text, index):
            name = unicodedata.name(character, "").lower()
            described = f"U+{ord(character):04X}" + (f" {name}" if name else "")
            return f"Contains a character that does not show or that reorders the text ({described}): type it plainly."
    return None


def visible(text: str) -> None:
    """marshmallow validator for names, call signs and codes."""
    problem = invisible_character(text)
    if problem:
        raise marshmallow.ValidationError(problem)


def _hidden_class() -> str:
    """The hidden characters of the Basic Multilingual Plane as a regex class body, for the OpenAPI
    document's name pattern (detail/web/api/schemas.py), so the document refuses what this module refuses."""
    ranges: list[list[int]] = []
    for code in range(0x80, 0x10000):
        if 0xD800 <= code <= 0xDFFF or not _hidden(chr(code)):
            continue
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\u{a:04x}" if a == b else f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)


# (The joiners that are spelling, allowed above, are the one thing the document's pattern refuses
# and this module accepts; its description says so.)
HIDDEN_CLASS = _hidden_class()


def strip(value):
    """Filter: trim surrounding whitespace from text input, and drop what is not text (NUL, other
    control codes, lone surrogates), which the database cannot store or the API would refuse."""
    if not isinstance(value, str):
        return value
    return "".join(c for c in value if c in "\n\t" or (c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)).strip()
