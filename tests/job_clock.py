"""A clock for detail.jobs' loop: the loop's naps on the test's thread move the time it reads, and
the loop stops (raises Stop) once the clock has run for as long as the test asked."""

import threading
import time
from types import SimpleNamespace

from detail import jobs
from detail.extensions import socketio


class Stop(Exception):
    """Raised from the loop's nap when the test has seen enough."""


class JobClock:
    """Patches socketio.sleep and detail.jobs' monotonic clock for the calling thread only: background
    loops of earlier tests in this process (the position coalescer, a live server's jobs) sleep
    through socketio too, and keep the real clock."""

    def __init__(self, monkeypatch, run_for: float, start: float = 1_000.0):
        self.now = start
        self.stop_at = start + run_for
        me, original_sleep = threading.get_ident(), socketio.sleep

        def sleep(seconds):
            if threading.get_ident() != me:
                return original_sleep(seconds)
            self.now += seconds
            if self.now >= self.stop_at:
                raise Stop

        def monotonic():
            return self.now if threading.get_ident() == me else time.monotonic()

        assert socketio.server is not None  # the loop sleeps through socketio, patched here
        monkeypatch.setattr(socketio, "sleep", sleep)
        monkeypatch.setattr(jobs, "time", SimpleNamespace(monotonic=monotonic))
