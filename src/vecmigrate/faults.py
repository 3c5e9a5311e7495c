"""Crash points for fault-injection tests.

Set VECMIGRATE_CRASH_AT=<point>[:<n>] and the process SIGKILLs itself the n-th time (default
first) it reaches <point>: a real, uncatchable kill at a chosen moment, so tests can prove
that every such moment is recoverable. Points: batch-committed, checkpoint-temp-written,
index-temp-written, run-finished, before-swap, after-swap, rollback-marked, rollback-swapped,
generation-renamed-to-trash. Unset, this does nothing.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_seen: Counter = Counter()


def crash_point(name: str) -> None:
    spec = os.environ.get("VECMIGRATE_CRASH_AT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _seen[name] += 1
    if _seen[name] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
