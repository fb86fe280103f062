"""A feed's health as an operator reads it: the problems of one poll, the same problem on many
items said once with a count, so a real problem is never pushed out of the list by repeats."""

import re
from collections import Counter

# "item 'guid': problem" and "entry 7 skipped: problem", as the parser and the poller write them.
_ITEM = re.compile(r"^item (?P<subject>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"): (?P<problem>.+)$", re.S)
_ENTRY = re.compile(r"^entry (?P<subject>\d+) skipped: (?P<problem>.+)$", re.S)
# How many lines a feed keeps of its last poll.
KEPT = 50


def problem_lines(problems: list[str]) -> list[str]:
    """One line a problem, in the order first seen; a problem on several items says on how many
    and names the first ("link dropped (scheme 'javascript' is not allowed) on 13 items, first 'a1'")."""
    keyed = [_key(problem) for problem in problems]
    counts = Counter(key for key, _ in keyed)
    lines, seen = [], set()
    for (key, subject), problem in zip(keyed, problems, strict=True):
        if key in seen:
            continue
        seen.add(key)
        kind, text = key
        if kind is None or counts[key] == 1:
            lines.append(problem)
        elif kind == "entry":
            lines.append(f"{counts[key]} entries skipped: {text} (first: entry {subject})")
        else:
            lines.append(f"{text} on {counts[key]} items (first: {subject})")
    return lines[:KEPT]


def _key(problem: str) -> tuple[tuple[str | None, str], str | None]:
    for kind, pattern in (("item", _ITEM), ("entry", _ENTRY)):
        found = pattern.match(problem)
        if found:
            return (kind, found["problem"]), found["subject"]
    return (None, problem), None
