"""The feeds and digests tables keep their row actions in one column, the last, as buttons of one
kind: every row has that cell (empty where there is nothing to do), and nothing else holds a button."""

from datetime import timedelta
from html.parser import HTMLParser

from detail.extensions import db
from intel.models import Digest, Feed

from .conftest import T0


class _Rows(HTMLParser):
    """For each body row of each table: its cells' classes, and per cell the classes of its buttons and links."""

    def __init__(self):
        super().__init__()
        self.tables: list[list[list[dict]]] = []
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tbody":
            self._in_body = True
        elif not self._in_body:
            return
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag == "td":
            self.tables[-1][-1].append({"class": attrs.get("class") or "", "colspan": attrs.get("colspan"), "acts": []})
        elif tag == "button" or (tag == "a" and "button" in (attrs.get("class") or "")):
            self.tables[-1][-1][-1]["acts"].append(attrs.get("class") or "")

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False


def _tables(client, url):
    page = client.get(url)
    assert page.status_code == 200
    parser = _Rows()
    parser.feed(page.get_data(as_text=True))
    return parser.tables


def _assert_one_action_column(rows, buttons_per_row):
    assert rows, "the table has rows"
    for cells, expected in zip(rows, buttons_per_row, strict=True):
        *others, last = cells
        assert "row-actions" in last["class"].split()
        assert len(last["acts"]) == expected
        assert all("row-action" in classes.split() for classes in last["acts"])  # one size for all
        assert not any(cell["acts"] for cell in others)


def test_every_feed_has_its_actions_in_the_last_column(as_user, world):
    db.session.add_all(
        [
            Feed(organisation=world.org, url="https://a.example/f", name="Regional", enabled=True),
            Feed(organisation=world.org, url="https://b.example/f", name="Quiet", enabled=False),
        ]
    )
    db.session.commit()
    (feeds,) = _tables(as_user(world.coordinator), "/intel/feeds")
    _assert_one_action_column(feeds, [2, 2])


def test_every_digest_row_has_an_action_cell_even_with_nothing_to_do(as_user, world):
    for day, (status, error) in enumerate((("sent", None), ("failed", "connection refused"), ("uncertain", None))):
        db.session.add(
            Digest(
                user=world.contact,
                email=world.contact.email,
                cadence="daily",
                period_key=f"2026-11-2{day}",
                subject=f"Digest {status}",
                message_id=f"<{status}@oscarmike>",
                status=status,
                last_error=error,
                created_at=T0 - timedelta(days=day),
            )
        )
    db.session.commit()
    contacts, recent = _tables(as_user(world.coordinator), "/intel/digests")
    _assert_one_action_column(contacts, [2, 2])  # Preview and Send now, for each of the two contacts
    # Newest first: sent (nothing to do, an empty cell), then failed and uncertain (Send again).
    _assert_one_action_column(recent, [0, 1, 1])
