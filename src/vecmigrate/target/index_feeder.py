"""Feeds a USearch index from a background thread during a migration.

HNSW construction is the one cost a migration cannot avoid; USearch releases the GIL while
it adds, so while one chunk is being added (on all cores) the main thread reads, maps and
commits the next batches. Batches are gathered into chunks of `chunk` vectors (fewer, larger
`add` calls), and operations stay in order: a key's removal always precedes its re-add.
SQLite stays the system of record: whatever the index has not received when a process dies
is in the change log after the seq the saved index holds, and is replayed at the next open.
"""

from __future__ import annotations

import queue
import threading

import numpy as np
from usearch.index import Index

from .index_file import remove_keys

DEFAULT_CHUNK = 8192


class IndexFeeder:
    def __init__(self, index: Index, *, chunk: int = DEFAULT_CHUNK) -> None:
        self.index = index
        self.chunk = chunk
        self._keys: list[np.ndarray] = []
        self._vectors: list[np.ndarray] = []
        self._buffered = 0
        self._queue: queue.Queue = queue.Queue(maxsize=2)  # bounded: memory stays at a few chunks
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="vecmigrate-index-feeder", daemon=True)
        self._thread.start()

    def put(self, keys: list[int], vectors: np.ndarray, replaced: list[int]) -> None:
        """Queue one committed batch: remove `replaced` keys, then add `keys` with `vectors`."""
        self._raise_if_failed()
        if replaced:
            self._send_buffer()
            self._send(("remove", np.asarray(replaced, dtype=np.uint64)))
        if keys:
            self._keys.append(np.asarray(keys, dtype=np.uint64))
            self._vectors.append(vectors)
            self._buffered += len(keys)
        if self._buffered >= self.chunk:
            self._send_buffer()

    def drain(self) -> Index:
        """Wait until the index holds every batch put so far (before a save)."""
        self._send_buffer()
        self._queue.join()
        self._raise_if_failed()
        return self.index

    def close(self) -> None:
        try:
            self.drain()
        finally:
            self._queue.put(None)
            self._thread.join()

    def _send_buffer(self) -> None:
        if self._buffered:
            keys = np.concatenate(self._keys)
            vectors = self._vectors[0] if len(self._vectors) == 1 else np.concatenate(self._vectors)
            self._keys, self._vectors, self._buffered = [], [], 0
            self._send(("add", keys, vectors))

    def _send(self, item: tuple) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if self._error is None:
                    if item[0] == "remove":
                        remove_keys(self.index, item[1].tolist())
                    else:
                        self.index.add(item[1], item[2], threads=0)
            except BaseException as exc:  # handed to the main thread at its next call
                self._error = exc
            finally:
                self._queue.task_done()
