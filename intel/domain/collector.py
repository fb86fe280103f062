"""The cyclic garbage collector held off while a feed is read and its items built.

Reading a big feed makes hundreds of thousands of objects that all stay alive until the poll ends
(feedparser's entries, the parsed items, the FeedItems); each full collection set off meanwhile walks
all of them and everything else the process holds (the gazetteer's million), and finds nothing to
free. Held off, those collections are not run; cycles made meanwhile are collected after, by the next
collection. The code inside does no I/O, so under gevent no other greenlet runs meanwhile either.
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
