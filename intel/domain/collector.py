"""The cyclic garbage collector held off while a feed is polled: read, its items built and stored,
matched, committed.

Reading a big feed makes hundreds of thousands of objects that all stay alive until the poll ends
(the parsed entries and items, the FeedItems, the advisories and their events); each full collection
set off meanwhile walks all of them and everything else the process holds (the gazetteer's million),
and finds nothing to free (0.5 s of a 10,000-item poll, bench/README.md). Held off, those collections
are not run; cycles made meanwhile are collected after, by the next collection, when the poll's objects
are already freed by their counts. Under gevent another greenlet may run while the poll waits on the
database; its cycles too wait for that next collection, a few seconds at most.
"""

import contextlib
import gc


@contextlib.contextmanager
def paused():
    """Run the block with the cyclic collector off (as it was after: a block inside another stays off)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
