"""Feed health: the same problem on many items is one line with a count, so no problem is pushed out."""

from intel.domain import poller
from intel.domain.health import KEPT, problem_lines

from .test_poller import _feed, feed_server  # noqa: F401  (the loopback feed server fixture)


def test_the_same_problem_on_many_items_is_one_line_with_a_count():
    problems = [
        "the document ends early (truncated?): its last, incomplete entry was dropped",
        *[f"item 'guid-{i}': link dropped (scheme 'javascript' is not allowed)" for i in range(13)],
        "item 'guid-x': link dropped (not an absolute http(s) URL)",
        *[f"entry {i} skipped: no title, link or summary" for i in (4, 9)],
        "entry 11 skipped: duplicate guid 'guid-3'",
    ]
    assert problem_lines(problems) == [
        "the document ends early (truncated?): its last, incomplete entry was dropped",
        "link dropped (scheme 'javascript' is not allowed) on 13 items (first: 'guid-0')",
        "item 'guid-x': link dropped (not an absolute http(s) URL)",
        "2 entries skipped: no title, link or summary (first: entry 4)",
        "entry 11 skipped: duplicate guid 'guid-3'",
    ]


def test_a_rare_problem_is_kept_however_many_items_share_another():
    problems = [f"item 'g{i}': link dropped (scheme 'javascript' is not allowed)" for i in range(500)]
    problems += [f"item 'odd-{i}': point (0, 0) is no place" for i in range(KEPT + 5)]
    problems.append("item 'last': geometry refused: a coordinate list with an odd count")
    lines = problem_lines(problems)
    assert lines == [
        "link dropped (scheme 'javascript' is not allowed) on 500 items (first: 'g0')",
        f"point (0, 0) is no place on {KEPT + 5} items (first: 'odd-0')",
        "item 'last': geometry refused: a coordinate list with an odd count",
    ]


def test_a_polled_feed_keeps_its_problems_counted(app, world, feed_server):  # noqa: F811
    feed = _feed(world.org, feed_server.url("/feeds/rss_repeated_problems.xml"))
    (result,) = poller.poll_due(app)
    assert result.status == "ok" and result.new_items == 14
    assert feed.last_problems == [
        "link dropped (scheme 'javascript' is not allowed) on 13 items (first: 'bad-link-1')",
        "item 'relative-link-14': link dropped (not an absolute http(s) URL)",
    ]
