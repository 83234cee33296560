"""Journal entries on their way to a shared store (SQLite, PostgreSQL), written in batches.

One INSERT per request was measured to cost more than half of a PostgreSQL-backed server's
get-by-id throughput (bench/RESULTS.md): every request became a write transaction. Entries are
instead queued in the process and written together, at the latest `INTERVAL` seconds after they were
queued: under load by the request that finds the queue that old (one transaction per process per
`INTERVAL`), and when requests stop by a background thread that only writes once the process is idle.
(A background writer under load was measured to halve throughput: each of its database round trips
waits for the request thread to hand over the GIL.)

What a reader gives up is at most `INTERVAL` of delay, and `settle()` takes that back: a journal
read (or a reset) first writes its own process' queue, then waits until every other process has
written what it queued before the read began.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

log = logging.getLogger("crm_mock")

INTERVAL = 0.01  # seconds an entry may wait in the queue
SETTLE = 3 * INTERVAL  # what a reader waits for other processes' queues (a busy process flushes late)
MAX_BATCH = 500  # a queue this long is written at once, whatever the time
TRIM_EVERY = 16  # batches between two trims of a log to its newest `keep` (reads never show more anyway)

Batch = list[tuple[str, str, int]]  # (log, entry as JSON, entries to keep)


class LogBuffer:
    def __init__(self, write: Callable[[Batch, bool], None]) -> None:
        self._write = write
        self._pending: Batch = []
        self._lock = threading.Lock()  # guards the queue
        self._writing = threading.Lock()  # one batch at a time, in order
        self._pid = 0
        self._batches = 0
        self._first = 0.0  # when the oldest queued entry was queued
        self._last = 0.0  # when the newest was

    def add(self, log_name: str, text: str, keep: int) -> None:
        if self._pid != os.getpid():  # a forked worker starts its own writer
            self._start()
        now = time.monotonic()
        with self._lock:
            if not self._pending:
                self._first = now
            self._pending.append((log_name, text, keep))
            self._last = now
            due = len(self._pending) >= MAX_BATCH or now - self._first >= INTERVAL
        if due:
            self.flush()

    def flush(self) -> None:
        with self._writing:
            with self._lock:
                batch, self._pending = self._pending, []
            if batch:
                self._batches += 1
                self._write(batch, self._batches % TRIM_EVERY == 1)

    def settle(self) -> None:
        """After this, every entry queued anywhere before the call is in the store."""
        self.flush()
        time.sleep(SETTLE)

    def _start(self) -> None:
        self._pid = os.getpid()
        self._pending = []  # a fork's copy of the parent's queue is the parent's to write
        threading.Thread(target=self._run, name="crm-mock-journal", daemon=True).start()

    def _run(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(INTERVAL)
            if not self._pending or time.monotonic() - self._last < INTERVAL:
                continue  # nothing queued, or requests still coming: the next one writes the queue
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a store away (restarting) loses these entries, not the writer
                log.warning("journal entries could not be written to the store", exc_info=True)
