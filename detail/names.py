"""Names, call signs and codes are read at a glance, on boards and over the radio: they hold only what shows.

Direction controls (U+202A–U+202E, U+2066–U+2069) reorder the text after them, and zero-width and
other invisible characters (U+200B–U+200F, U+2060, U+FEFF, …) change a name without changing how it
looks, so "Bravo 1" could be made to look like another agent's call sign, or a code like another
code. One rule, here, refuses them wherever such a name comes in: the API's schemas, the admin
forms and the command line, each naming the field.
"""

import unicodedata

import marshmallow
import wtforms

# Invisible characters outside the format (Cf) and separator categories: the combining grapheme
# joiner, Hangul fillers, Khmer inherent vowels, the Mongolian vowel separator, the braille blank.
_INVISIBLE = frozenset({0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x2800, 0x3164, 0xFFA0})


def _hidden(character: str) -> bool:
    category = unicodedata.category(character)
    if category == "Zs":
        return character != " "  # spaces that look like a space but compare as something else
    return category in ("Cf", "Zl", "Zp") or ord(character) in _INVISIBLE


def invisible_character(text: str) -> str | None:
    """Why text cannot be a name (its first hidden or direction-changing character), or None."""
    for character in text:
        if _hidden(character):
            name = unicodedata.name(character, "").lower()
            described = f"U+{ord(character):04X}" + (f" {name}" if name else "")
            return f"Contains a character that does not show or that reorders the text ({described}): type it plainly."
    return None


def visible(text: str) -> None:
    """marshmallow validator for names, call signs and codes."""
    problem = invisible_character(text)
    if problem:
        raise marshmallow.ValidationError(problem)


def visible_field(form, field) -> None:
    """WTForms validator for names, call signs and codes: checks what was sent, before a filter tidied it."""
    for text in [*(field.raw_data or []), field.data]:
        problem = invisible_character(text) if isinstance(text, str) else None
        if problem:
            raise wtforms.validators.ValidationError(problem)
