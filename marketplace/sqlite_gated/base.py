"""SQLite for the web process, with its write transactions queued in the process instead of in SQLite's busy handler.

Why: SQLite has one writer at a time, and a connection that finds the write lock taken does not queue for it: its
busy handler sleeps and retries (1, 2, 5, 10 ... 100 ms steps) until the timeout. With twenty upload threads in one
web process each beginning an IMMEDIATE transaction, a thread that has backed off to 100 ms sleeps keeps losing to
fresh arrivals: measured with bench/bench_uploads.py (200 uploads, 20 concurrent, 2 cores), the wait for the lock
was p50 32 ms but p95 548 ms, while the transaction itself (two rows and the file) takes 2 ms. Here the threads of
one process wait for each other on a lock that hands over at once on release, so only one of them at a time asks
SQLite (where it still competes with the worker processes, a few writers). Measured under gunicorn (2 processes x 10
threads) on the busy shared machine, alternating runs: the `db` phase's p95 was 87-222 ms with the gate and 237-439
ms without (bench/results/uploads-tail.json).

Used by the web process on the embedded default only (settings: ENGINE when DATABASE_URL is SQLite and
MARKETPLACE_PROCESS=web); PostgreSQL queues writers itself."""
from __future__ import annotations

import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base

_write_gate = threading.Lock()


def _then_release_gate(name: str):
    """The SQLite wrapper's method `name`, then this connection's hold on the gate released, whatever it raised."""
    def method(self):
        try:
            return getattr(base.DatabaseWrapper, name)(self)
        finally:
            self._release_gate()

    method.__name__ = name
    return method


class DatabaseWrapper(base.DatabaseWrapper):
    _holds_gate = False

    def _start_transaction_under_autocommit(self):
        timeout = float(self.settings_dict.get("OPTIONS", {}).get("timeout", 30))
        if not _write_gate.acquire(timeout=timeout):
            raise OperationalError("database is locked (waited for this process's other writers)")
        self._holds_gate = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_gate()
            raise

    def _release_gate(self) -> None:
        if self._holds_gate:
            self._holds_gate = False
            _write_gate.release()

    # A transaction ends (commit or rollback) or the connection closes: the process's next writer may go.
    _commit = _then_release_gate("_commit")
    _rollback = _then_release_gate("_rollback")
    _close = _then_release_gate("_close")
