"""The plain RSS 2.0 fast path (parse/plain_rss.py) gives exactly feedparser's ParsedFeed, or declines.

Each comparison parses the same bytes twice, through the fast reader and with it switched off
(so through feedparser and entry_xml, as before), and compares title, version, problems, usable
and every field of every item.
"""

import dataclasses
import sys
from pathlib import Path

import pytest
from feedparser.html import _cp1252
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intel.domain import parse
from intel.domain.parse import plain_rss

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.intel_ingest import make_feed  # noqa: E402

FEEDS = Path(__file__).parent / "data" / "feeds"
ACCEPTED = {"rss_repeated_problems.xml", "script_injection.xml", "stated_times.xml"}
GEORSS = 'xmlns:georss="http://www.georss.org/georss"'


def _through_feedparser(body: bytes) -> parse.ParsedFeed:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plain_rss, "read", lambda body: None)
        return parse.parse(body, base_url="https://feed.example.org/rss/")


def _as_compared(feed: parse.ParsedFeed) -> dict:
    return dataclasses.asdict(feed)


def _assert_same(body: bytes) -> None:
    fast = parse.parse(body, base_url="https://feed.example.org/rss/")
    slow = _through_feedparser(body)
    fast_d, slow_d = _as_compared(fast), _as_compared(slow)
    assert len(fast_d["items"]) == len(slow_d["items"])
    for fast_item, slow_item in zip(fast_d["items"], slow_d["items"], strict=True):
        assert fast_item == slow_item
    assert fast_d == slow_d


def _rss(items: str, channel: str = "<title>Feed</title>", namespaces: str = GEORSS) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" {namespaces}><channel>{channel}{items}'
        "</channel></rss>"
    ).encode()


@pytest.mark.parametrize("path", sorted(FEEDS.iterdir()), ids=lambda path: path.name)
def test_fixture_feeds_read_alike_or_are_declined(path):
    body = path.read_bytes()
    accepted = plain_rss.read(body) is not None
    assert accepted == (path.name in ACCEPTED)
    if accepted:
        _assert_same(body)


def test_benchmark_feed_is_read_alike():
    body = make_feed(300, 20261124, 0.4)
    assert plain_rss.read(body) is not None
    _assert_same(body)


def test_windows_1252_table_is_feedparsers():
    assert _cp1252 == plain_rss._CP1252


# Hostile-ish text: entities, character references, CDATA, markup, controls-as-1252, mojibake, spaces.
_PIECES = st.sampled_from(
    [
        "Storm",
        " in ",
        "&amp;",
        "&lt;b&gt;bold&lt;/b&gt;",
        "&#233;",
        "&#x2019;",
        "&#128;",
        "&#x9d;",
        "&quot;",
        "&apos;",
        "Ã©",
        "é",
        "日本",
        "<![CDATA[<p>para <a href='/x'>rel</a> &amp; <script>x</script></p>]]>",
        "<![CDATA[ ]]>",
        "  ",
        "\n\t",
        "<!-- note -->",
        "&#160;",
        "&lt;p&gt;",
        "&amp;nbsp;",
        "&amp;x;",
        "M 4.5 - 10 km SSW of Hualien",
        "Mexico - Level 2: Exercise Increased Caution",
    ]
)
_TEXT = st.lists(_PIECES, max_size=5).map("".join)
_LINKS = st.sampled_from(
    [
        "https://example.org/a?x=1&amp;y=2",
        "https://example.org/a?x=1&amp;copy;z",
        "http:///example.org/slashes",
        "/relative/path",
        "javascript:alert(1)",
        "  https://example.org/spaced  ",
        "https://usgs.gov/event/1",
        "",
        "mailto:a@example.org",
    ]
)
_DATES = st.sampled_from(
    [
        "Fri, 27 Nov 2026 22:10:00 +0000",
        "Fri, 7 Nov 2026 22:10:00 -0530",
        "Mon, 02 Mar 2026 01:00 GMT",
        "Tue, 31 Dec 2025 23:59:59 PST",
        "Wed, 01 Jan 2025 00:00:00 Z",
        "Thu, 29 Feb 2024 12:00:00 EDT",
        "Sat, 30 Feb 2024 12:00:00 +0100",
        "Sun, 05 May 2024 12:00:00 UT",
        "Sun, 05 May 2024 12:00:00 +1400",
        "Sun, 05 May 2024 25:00:00 +0000",
        "2024-05-05T12:00:00Z",
        "5 May 2024 12:00:00 +0000",
        "Sun, 05 May 2024",
        "Sun, 05 May 2024 12:00:00 CET",
        "",
        "  Sun, 05 May 2024 12:00:00 +0200  ",
    ]
)
_POINTS = st.sampled_from(["51.5 -0.12", "0 0", "91 0", "51.5", "51.5 -0.12 30", "a b", "", "1e1 2e1"])


@st.composite
def _item(draw) -> str:
    children = []
    if draw(st.booleans()):
        children.append(f"<title>{draw(_TEXT)}</title>")
    if draw(st.booleans()):
        children.append(f"<link>{draw(_LINKS)}</link>")
    if draw(st.booleans()):
        children.append(f"<description>{draw(_TEXT)}</description>")
    if draw(st.booleans()):
        permalink = draw(st.sampled_from(["", ' isPermaLink="true"', ' isPermaLink="false"', ' isPermaLink="True"']))
        value = draw(st.one_of(_LINKS, _TEXT, st.sampled_from(["urn:earthquake-usgs-gov:us7000abcd"])))
        children.append(f"<guid{permalink}>{value}</guid>")
    if draw(st.booleans()):
        children.append(f"<pubDate>{draw(_DATES)}</pubDate>")
    for _ in range(draw(st.integers(0, 3))):
        domain = draw(st.sampled_from(["", ' domain="Threat-Level"', ' domain="Country-Tag"', ' domain=""']))
        term = draw(st.one_of(_TEXT, st.sampled_from(["Level 2: Exercise Increased Caution", "MX", "Magnitude 4.5"])))
        children.append(f"<category{domain}>{term}</category>")
    for _ in range(draw(st.integers(0, 2))):
        shape = draw(st.sampled_from(["point", "line", "polygon", "box"]))
        children.append(f"<georss:{shape}>{draw(_POINTS)}</georss:{shape}>")
    if draw(st.booleans()):
        children.append(draw(st.sampled_from(["<author>a@example.org (A)</author>", "<comments>/c</comments>"])))
    if draw(st.integers(0, 9)) == 0:  # now and then something the fast path must decline
        children.append(
            draw(
                st.sampled_from(
                    ['<enclosure url="https://e.org/a.mp3"/>', "<source>S</source>", "<title>Again</title>", "<x/>"]
                )
            )
        )
    return "<item>" + "".join(draw(st.permutations(children))) + "</item>"


@st.composite
def _document(draw) -> bytes:
    items = "".join(draw(st.lists(_item(), min_size=0, max_size=4)))
    channel = draw(st.sampled_from(["<title>Feed &amp; more</title>", "", "<title/>", "<title>&lt;b&gt;T</title>"]))
    channel += draw(st.sampled_from(["", "<link>https://example.org/</link><description>D</description>"]))
    if draw(st.booleans()):
        return _rss(channel=channel, items=items)
    return _rss(channel="", items=items + channel)  # channel elements after the items


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=_document())
def test_generated_documents_read_alike_or_are_declined(body):
    if plain_rss.read(body) is None:
        return
    _assert_same(body)


_ITEM = "<item><title>T</title><link>https://example.org/1</link></item>"
DECLINED = {
    "atom": b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title></feed>',
    "rss 0.91": b'<rss version="0.91"><channel><title>F</title></channel></rss>',
    "rss without version": b"<rss><channel><title>F</title></channel></rss>",
    "no channel": b'<rss version="2.0"><item><title>T</title></item></rss>',
    "item outside the channel": _rss("").replace(b"</channel></rss>", b"</channel><item/></rss>"),
    "two channels": _rss("").replace(b"</channel></rss>", b"</channel><channel/></rss>"),
    "doctype": b'<!DOCTYPE rss>\n<rss version="2.0"><channel><title>F</title></channel></rss>',
    "latin-1 declared": _rss(_ITEM).replace(b"utf-8", b"iso-8859-1"),
    "not utf-8 bytes": _rss("<item><title>café</title></item>").replace("é".encode(), b"\xe9"),
    "byte order mark": b"\xef\xbb\xbf" + _rss(_ITEM),
    "not well-formed": _rss(_ITEM)[:-20],
    "html page": b"<html><head><title>Error</title></head><body>502</body></html>",
    "dublin core": _rss(
        "<item><title>T</title><dc:date>2025-01-01T00:00:00Z</dc:date></item>",
        namespaces='xmlns:dc="http://purl.org/dc/elements/1.1/"',
    ),
    "content:encoded": _rss(
        "<item><title>T</title><content:encoded>x</content:encoded></item>",
        namespaces='xmlns:content="http://purl.org/rss/1.0/modules/content/"',
    ),
    "cap namespace declared": _rss(_ITEM, namespaces='xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2"'),
    "gdacs namespace declared": _rss(_ITEM, namespaces='xmlns:gdacs="http://www.gdacs.org"'),
    "w3c geo": _rss(_ITEM, namespaces='xmlns:geo="http://www.w3.org/2003/01/geo/wgs84_pos#"'),
    "georss where (gml)": _rss(
        "<item><title>T</title><georss:where>x</georss:where></item>",
    ),
    "georss elev": _rss("<item><title>T</title><georss:elev>-10000</georss:elev></item>"),
    "enclosure": _rss('<item><title>T</title><enclosure url="https://e.org/a.mp3" type="audio/mpeg"/></item>'),
    "source": _rss('<item><title>T</title><source url="https://s.org/">S</source></item>'),
    "unknown item element": _rss("<item><title>T</title><geo_lat>1</geo_lat></item>"),
    "element in a title": _rss("<item><title>a <b>bold</b></title></item>"),
    "element in a skipped element": _rss("<item><author><title>Inner</title></author></item>"),
    "xml:base": _rss('<item xml:base="https://b.org/"><title>T</title></item>'),
    "type attribute": _rss('<item><description type="text/plain">x</description></item>'),
    "second description": _rss("<item><description>a</description><description>b</description></item>"),
    "second title": _rss("<item><title>a</title><title>b</title></item>"),
    "second channel title": _rss(_ITEM, channel="<title>A</title><title>B</title>"),
    "channel image": _rss(_ITEM, channel="<title>A</title><image><title>I</title><url>u</url></image>"),
    "upper-case element": _rss("<item><Title>T</Title></item>"),
    "date without time": _rss("<item><title>T</title><pubDate>Tue, 12 Aug 2025</pubDate></item>"),
    "iso date": _rss("<item><title>T</title><pubDate>2025-08-12T10:00:00Z</pubDate></item>"),
    "date not on the calendar": _rss("<item><title>T</title><pubDate>Sat, 30 Feb 2024 12:00:00 +0000</pubDate></item>"),
    "unknown zone": _rss("<item><title>T</title><pubDate>Sat, 03 Feb 2024 12:00:00 CET</pubDate></item>"),
}


@pytest.mark.parametrize("body", DECLINED.values(), ids=DECLINED.keys())
def test_declines(body):
    assert plain_rss.read(body) is None
    parse.parse(body)  # and feedparser's reading of it goes on as before


def test_the_fast_path_is_taken_for_plain_rss():
    assert plain_rss.read(_rss(_ITEM)) is not None
    assert plain_rss.read(_rss(_ITEM, namespaces="")) is not None
