"""The documentation keeps up with the code: every environment variable the app reads is in
docs/configuration.md's table, and every link between the pages reaches a page and a heading."""

import re
from pathlib import Path

from detail.config import from_environment

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


class ReadingRecorder(dict):
    """An empty environment that remembers each name asked of it."""

    def __init__(self):
        super().__init__()
        self.asked = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def documented_variables() -> set[str]:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_variable_the_app_reads_is_in_the_configuration_table(tmp_path):
    env = ReadingRecorder()
    from_environment(str(tmp_path), env=env)
    wsgi_reads = set(re.findall(r"os\.environ\.get\(\"([A-Z_]+)\"", (ROOT / "wsgi.py").read_text()))
    read = env.asked | wsgi_reads
    assert {"DATABASE_URL", "TWILIO_ACCOUNT_SID", "VAPID_PRIVATE_KEY", "HOST", "PORT"} <= read
    assert read - documented_variables() == set()


def _slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _headings(page: Path) -> set[str]:
    found, in_code = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#+ (.*)", line)):
            found.add(_slug(match.group(1)))
    return found


def test_links_between_the_pages_reach_a_page_and_its_heading():
    broken = []
    for page in PAGES:
        for target, fragment in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            linked = (page.parent / target).resolve() if target else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif fragment and linked.suffix == ".md" and fragment not in _headings(linked):
                broken.append(f"{page.name}: {target}#{fragment}")
    assert broken == []
