"""The plain RSS 2.0 fast path (parse/plain_rss.py) gives exactly feedparser's ParsedFeed, or declines.

Each comparison parses the same bytes twice, through the fast reader and with it switched off
(so through feedparser and entry_xml, as before), and compares title, version, problems, usable
and every field of every item.
"""

import dataclasses
import io
import sys
from pathlib import Path

import feedparser
import pytest
from feedparser.html import _cp1252
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from intel.domain import parse
from intel.domain.parse import plain_rss

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.intel_ingest import make_feed  # noqa: E402

FEEDS = Path(__file__).parent / "data" / "feeds"
ACCEPTED = {
    "rss_georss_point.xml",
    "rss_repeated_problems.xml",
    "script_injection.xml",
    "stated_times.xml",
    "wordpress.xml",
}
GEORSS = 'xmlns:georss="http://www.georss.org/georss"'
# What a WordPress or news site's RSS declares, all read by the fast path.
COMMON = (
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:wfw="http://wellformedweb.org/commentAPI/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:sy="http://purl.org/rss/1.0/modules/syndication/" xmlns:slash="http://purl.org/rss/1.0/modules/slash/"'
)
MEDIA = 'xmlns:media="http://search.yahoo.com/mrss/"'


def _through_feedparser(body: bytes) -> parse.ParsedFeed:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plain_rss, "read", lambda body: None)
        return parse.parse(body, base_url="https://feed.example.org/rss/")


def _as_compared(feed: parse.ParsedFeed) -> dict:
    return dataclasses.asdict(feed)


_ENTRY_KEYS = ("title", "link", "summary", "id", "published_parsed", "updated_parsed", "tags")


def _assert_same_raw(body: bytes) -> None:
    """The fast reader's result against feedparser's, key by key: what the ParsedFeed comparison could
    hide (a link both readings drop, a summary both sanitise to the same text) shows here."""
    fast = plain_rss.read(body)[0]
    slow = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    # feedparser's `namespaces` is where CAP and GDACS prefixes are looked up: the same mapping, exactly.
    assert fast["namespaces"] == slow.namespaces
    assert (fast["version"], fast["feed"].get("title")) == (slow.version, slow.feed.get("title"))
    assert len(fast["entries"]) == len(slow.entries)
    for fast_entry, slow_entry in zip(fast["entries"], slow.entries, strict=True):
        for key in _ENTRY_KEYS:
            assert fast_entry.get(key) == dict.get(slow_entry, key), key
        values = [content["value"] for content in slow_entry.get("content", [])]
        assert [content["value"] for content in fast_entry.get("content", [])] == values


def _assert_same(body: bytes) -> None:
    _assert_same_raw(body)
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


def test_wordpress_feed_is_read_alike():
    body = (FEEDS / "wordpress.xml").read_bytes()
    raw, georss = plain_rss.read(body)
    assert georss is None
    assert raw["namespaces"][""] == "http://www.w3.org/2005/Atom"  # feedparser reads Atom's elements as RSS's
    _assert_same(body)
    feed = parse.parse(body)
    assert feed.title == "Regional Security Watch"  # not the image's title, though it is the same text
    empty_description = feed.items[1]
    assert empty_description.summary_text.startswith("Organisers expect several hundred people")  # content:encoded
    assert [item.guid for item in feed.items] == [
        "https://watch.example.org/?p=48211",
        "https://watch.example.org/?p=48190",
        "https://watch.example.org/?p=48102",
    ]


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
        "Sun, 05 May 2024 12:00:00 UT",
        "Sun, 05 May 2024 12:00:00 +1400",
        "",
        "  Sun, 05 May 2024 12:00:00 +0200  ",
    ]
)
# Forms the fast path declines; drawn less often, so that most documents are read rather than declined.
_DECLINED_DATES = st.sampled_from(
    [
        "Sat, 30 Feb 2024 12:00:00 +0100",
        "Sun, 05 May 2024 25:00:00 +0000",
        "2024-05-05T12:00:00Z",
        "5 May 2024 12:00:00 +0000",
        "Sun, 05 May 2024",
        "Sun, 05 May 2024 12:00:00 CET",
    ]
)
_DC_DATES = st.sampled_from(
    [
        "2026-11-23T09:12:40Z",
        "2026-11-23T09:12:40+01:00",
        "2026-11-23",
        "2026-11-23T09:12",
        "Mon, 23 Nov 2026 09:12:40 +0000",
        "23 Nov 2026",
        "not a date",
        "",
        "  2026-02-30T00:00:00Z ",
    ]
)
_ATOM_LINKS = st.sampled_from(
    [
        '<atom:link href="https://example.org/feed/" rel="self" type="application/rss+xml"/>',
        '<atom:link href="https://example.org/alt" rel="alternate" type="text/html"/>',
        '<atom:link href="http:///example.org/alt"/>',
        '<atom:link href="/relative" rel="ALTERNATE" type="TEXT/HTML"/>',
        '<atom:link href="https://example.org/x" type="application/xhtml+xml"/>',
        '<atom:link href="https://example.org/x" type="html"/>',
        '<atom:link href="https://example.org/x" rel="self"/>',
        '<atom:link href="https://example.org/x" rel="self" type="text/html"/>',
        '<atom:link href="https://example.org/x" rel="" type="text/html"/>',
        '<atom:link href="https://example.org/x" type=""/>',
        '<atom:link href="" rel="alternate"/>',
        '<atom:link href="  https://example.org/spaced  "/>',
        '<atom:link href="https://example.org/x?a=1&amp;b=2" rel="related" title="T" hreflang="en"/>',
        '<atom:link href="https://example.org/r" rel="replies" type="text/html"/>',
    ]
)
_SKIPPED = st.sampled_from(
    [
        "<dc:creator><![CDATA[Duty Desk]]></dc:creator>",
        "<dc:creator>a@example.org (A)</dc:creator>",
        "<comments>https://example.org/1#respond</comments>",
        "<wfw:commentRss>https://example.org/1/feed/</wfw:commentRss>",
        "<wfw:comment>/c</wfw:comment>",
        "<slash:comments>3</slash:comments>",
        '<enclosure url="https://e.org/a.mp3" length="1024" type="audio/mpeg"/>',
        '<enclosure url="/a.jpg" type="image/jpeg" length="0"/>',
        '<media:content url="https://e.org/a.jpg" medium="image" width="640" height="480"/>',
        '<media:thumbnail url="https://e.org/t.jpg" width="75" height="50"/>',
        "<media:thumbnail>https://e.org/t.jpg</media:thumbnail>",
        "<author>a@example.org (A)</author>",
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
    description = draw(st.one_of(st.none(), _TEXT, st.sampled_from(["", "<![CDATA[]]>", "  ", "<![CDATA[ ]]>"])))
    if description is not None:  # empty or blank ones too: content:encoded is then the summary's source
        children.append(f"<description>{description}</description>")
    if draw(st.booleans()):
        permalink = draw(st.sampled_from(["", ' isPermaLink="true"', ' isPermaLink="false"', ' isPermaLink="True"']))
        value = draw(st.one_of(_LINKS, _TEXT, st.sampled_from(["urn:earthquake-usgs-gov:us7000abcd"])))
        children.append(f"<guid{permalink}>{value}</guid>")
    if draw(st.booleans()):
        dates = _DECLINED_DATES if draw(st.integers(0, 7)) == 3 else _DATES
        children.append(f"<pubDate>{draw(dates)}</pubDate>")
    for _ in range(draw(st.integers(0, 3))):
        domain = draw(st.sampled_from(["", ' domain="Threat-Level"', ' domain="Country-Tag"', ' domain=""']))
        term = draw(st.one_of(_TEXT, st.sampled_from(["Level 2: Exercise Increased Caution", "MX", "Magnitude 4.5"])))
        children.append(f"<category{domain}>{term}</category>")
    for _ in range(draw(st.integers(0, 2))):
        shape = draw(st.sampled_from(["point", "line", "polygon", "box"]))
        children.append(f"<georss:{shape}>{draw(_POINTS)}</georss:{shape}>")
    children += draw(st.lists(_SKIPPED, max_size=3))
    children += _content_children(draw)
    if draw(st.booleans()):
        children.append(f"<dc:date>{draw(_DC_DATES)}</dc:date>")
    for _ in range(draw(st.integers(0, 2))):
        children.append(f"<dc:subject>{draw(_TEXT)}</dc:subject>")
    children += draw(st.lists(_ATOM_LINKS, max_size=2))
    if draw(st.integers(0, 19)) == 7:  # now and then something the fast path must decline (0 is drawn often)
        children.append(draw(_DECLINED_IN_ITEMS))
    return "<item>" + "".join(draw(st.permutations(children))) + "</item>"


_DECLINED_IN_ITEMS = st.sampled_from(
    [
        '<enclosure url="https://e.org/a.mp3" xml:base="https://b.org/"/>',
        "<source>S</source>",
        "<title>Again</title>",
        "<x/>",
        "<media:title>M</media:title>",
        "<media:description>M</media:description>",
        "<atom:title>A</atom:title>",
        "<atom:link>https://example.org/text</atom:link>",
        "<dc:title>D</dc:title>",
        "<dc:date>2026-01-01</dc:date><dc:date>2026-01-02</dc:date>",
        '<media:content url="https://e.org/a.jpg" lang="en"/>',
        "<media:group><media:title>G</media:title></media:group>",
    ]
)


def _content_children(draw) -> list[str]:
    """content:encoded, none, once or twice: text, CDATA HTML or empty."""
    children = []
    for _ in range(draw(st.integers(0, 2))):
        value = draw(st.one_of(_TEXT, st.sampled_from(["<![CDATA[<p>Full <b>post</b> &amp; more</p>]]>", ""])))
        children.append(f"<content:encoded>{value}</content:encoded>")
    return children


_CHANNEL_EXTRAS = st.sampled_from(
    [
        '<atom:link href="https://example.org/feed/" rel="self" type="application/rss+xml"/>',
        '<atom:link href="https://example.org/" rel="alternate" type="text/html"/>',
        "<sy:updatePeriod>\n\thourly\t</sy:updatePeriod><sy:updateFrequency>1</sy:updateFrequency>",
        "<generator>https://wordpress.org/?v=6.7.1</generator>",
        "<language>en-GB</language>",
        "<language></language>",
        "<lastBuildDate>Mon, 23 Nov 2026 09:41:12 +0000</lastBuildDate>",
        "<lastBuildDate>junk</lastBuildDate>",
        "<image><url>https://example.org/i.png</url><title>Image title</title><link>https://example.org/</link>"
        "<width>32</width><height>x</height></image>",
        "<image><title></title><url>/i.png</url></image>",
        "<image><url>/i.png</url><description>D</description></image>",
        "<copyright>© 2026 &lt;b&gt;Owner&lt;/b&gt;</copyright>",
        "<managingEditor>ed@example.org (Ed)</managingEditor>",
        "<webMaster>web@example.org</webMaster>",
        "<ttl>60</ttl>",
        "<docs>https://www.rssboard.org/rss-specification</docs>",
    ]
)


@st.composite
def _document(draw) -> bytes:
    items = "".join(draw(st.lists(_item(), min_size=0, max_size=4)))
    title = draw(st.sampled_from(["<title>Feed &amp; more</title>", "", "<title/>", "<title>&lt;b&gt;T</title>"]))
    others = draw(st.lists(_CHANNEL_EXTRAS, max_size=4))
    others.append(draw(st.sampled_from(["", "<link>https://example.org/</link><description>D</description>"])))
    channel = "".join(draw(st.permutations([title, *others])))  # an <image> before or after the title
    namespaces = " ".join([GEORSS, COMMON, draw(st.sampled_from([MEDIA, MEDIA.replace("mrss/", "mrss")]))])
    if draw(st.booleans()):
        return _rss(channel=channel, items=items, namespaces=namespaces)
    return _rss(channel="", items=items + channel, namespaces=namespaces)  # channel elements after the items


def test_generated_documents_read_alike_or_are_declined():
    accepted = []

    @settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=_document())
    def read_alike_or_declined(body):
        accepted.append(plain_rss.read(body) is not None)
        if accepted[-1]:
            _assert_same(body)

    read_alike_or_declined()
    # the proof is in the documents read, not those declined: most must be read
    assert sum(accepted) >= len(accepted) * 3 / 4, f"{sum(accepted)} of {len(accepted)} accepted"


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
    "dc:title": _rss("<item><dc:title>T</dc:title></item>", namespaces=COMMON),
    "dc:description": _rss("<item><title>T</title><dc:description>D</dc:description></item>", namespaces=COMMON),
    "a second dc:date": _rss(
        "<item><title>T</title><dc:date>2025-01-01</dc:date><dc:date>2025-01-02</dc:date></item>", namespaces=COMMON
    ),
    "dc:date in the channel": _rss(_ITEM, channel="<title>F</title><dc:date>2025-01-01</dc:date>", namespaces=COMMON),
    "dc:creator holding an element": _rss(
        "<item><title>T</title><dc:creator><title>Inner</title></dc:creator></item>", namespaces=COMMON
    ),
    "content:encoded with a type": _rss(
        '<item><title>T</title><content:encoded type="text/plain">x</content:encoded></item>', namespaces=COMMON
    ),
    "atom:title": _rss("<item><atom:title>A</atom:title></item>", namespaces=COMMON),
    "atom:link without href": _rss("<item><atom:link>https://example.org/1</atom:link></item>", namespaces=COMMON),
    "atom:link with a base": _rss(
        '<item><title>T</title><atom:link href="/x" base="https://b.org/"/></item>', namespaces=COMMON
    ),
    "sy:updateBase": _rss(_ITEM, channel="<sy:updateBase>2000-01-01T12:00+00:00</sy:updateBase>", namespaces=COMMON),
    "media:title": _rss(f"{_ITEM[:-7]}<media:title>M</media:title></item>", namespaces=MEDIA),
    "media:description": _rss(f"{_ITEM[:-7]}<media:description>M</media:description></item>", namespaces=MEDIA),
    "media:keywords": _rss(f"{_ITEM[:-7]}<media:keywords>a, b</media:keywords></item>", namespaces=MEDIA),
    "media:group": _rss(
        f'{_ITEM[:-7]}<media:group><media:content url="https://e.org/a.jpg"/></media:group></item>', namespaces=MEDIA
    ),
    "media:content with a lang": _rss(
        f'{_ITEM[:-7]}<media:content url="https://e.org/a.mp3" lang="en"/></item>', namespaces=MEDIA
    ),
    "media:content holding an element": _rss(
        f'{_ITEM[:-7]}<media:content url="https://e.org/a.jpg"><media:title>M</media:title></media:content></item>',
        namespaces=MEDIA,
    ),
    "itunes namespace": _rss(_ITEM, namespaces='xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"'),
    "namespace in another case": _rss(_ITEM, namespaces='xmlns:dc="http://purl.org/DC/elements/1.1/"'),
    "default namespace": _rss(_ITEM, namespaces='xmlns="http://backend.userland.com/rss2"'),
    "atom as the default namespace": _rss(_ITEM, namespaces='xmlns="http://www.w3.org/2005/Atom"'),
    "cap namespace declared": _rss(_ITEM, namespaces='xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2"'),
    "gdacs namespace declared": _rss(_ITEM, namespaces='xmlns:gdacs="http://www.gdacs.org"'),
    "w3c geo": _rss(_ITEM, namespaces='xmlns:geo="http://www.w3.org/2003/01/geo/wgs84_pos#"'),
    "georss where (gml)": _rss(
        "<item><title>T</title><georss:where>x</georss:where></item>",
    ),
    "georss elev": _rss("<item><title>T</title><georss:elev>-10000</georss:elev></item>"),
    "enclosure with a base": _rss('<item><title>T</title><enclosure url="/a.mp3" xml:base="https://b.org/"/></item>'),
    "source": _rss('<item><title>T</title><source url="https://s.org/">S</source></item>'),
    "unknown item element": _rss("<item><title>T</title><geo_lat>1</geo_lat></item>"),
    "element in a title": _rss("<item><title>a <b>bold</b></title></item>"),
    "element in a skipped element": _rss("<item><author><title>Inner</title></author></item>"),
    "xml:base": _rss('<item xml:base="https://b.org/"><title>T</title></item>'),
    "type attribute": _rss('<item><description type="text/plain">x</description></item>'),
    "second description": _rss("<item><description>a</description><description>b</description></item>"),
    "second title": _rss("<item><title>a</title><title>b</title></item>"),
    "second channel title": _rss(_ITEM, channel="<title>A</title><title>B</title>"),
    "channel image of an unknown element": _rss(_ITEM, channel="<title>A</title><image><x>I</x></image>"),
    "channel image holding an element": _rss(_ITEM, channel="<image><title>I<b>b</b></title></image>"),
    "image in an item": _rss("<item><title>T</title><image><url>u</url></image></item>"),
    "channel textInput": _rss(_ITEM, channel="<textInput><title>T</title><name>q</name></textInput>"),
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


@pytest.mark.parametrize(
    "body",
    [
        _rss(_ITEM, namespaces=f"{COMMON} {MEDIA}"),  # declared, none used
        _rss(_ITEM, namespaces='xmlns:media="http://search.yahoo.com/mrss"'),  # Media RSS's older spelling
        _rss(_ITEM, namespaces='xmlns:media="http://search.yahoo.com/mrss" xmlns:m="http://search.yahoo.com/mrss/"'),
        _rss(_ITEM, namespaces='xmlns:d="http://purl.org/dc/elements/1.1/"'),  # any prefix: feedparser says "dc"
        _rss(
            '<item xmlns:dc="http://purl.org/dc/elements/1.1/"><title>T</title><dc:date>2025-01-01</dc:date></item>',
            namespaces="",
        ),  # declared on the item
    ],
    ids=["all declared", "old media", "both medias", "other prefix", "declared on an item"],
)
def test_common_namespace_declarations_are_read_alike(body):
    assert plain_rss.read(body) is not None
    _assert_same(body)
