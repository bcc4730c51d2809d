"""Wake a client waiting for a job the moment it ends: `GET /api/jobs/{id}/?wait=S` (a long poll).

Why: a client that polls learns of the end one request later (measured in bench/bench_pipeline.py: a poll request
costs ~7 ms on this machine, so even a 5 ms poll interval added ~7 ms, a tenth of the whole upload -> done time, and
many requests). A waiting request instead subscribes to the job's channel on the broker's Redis, re-reads the row,
and sleeps until the worker that ends the job announces it (after its transaction commits) or the wait runs out.

The database stays the record: an announcement only wakes a waiter, who re-reads the row; a lost one (Redis down,
a worker killed between commit and announce) costs at most RECHECK_SECONDS, after which the waiter re-reads anyway.
A waiting request holds a web thread: the wait is capped by settings.JOB_WAIT_MAX_SECONDS.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from django.db import transaction

from .queue import broker_redis

log = logging.getLogger(__name__)
RECHECK_SECONDS = 1.0


def _channel(job_id: int) -> str:
    return f"marketplace:job-ended:{int(job_id)}"


def announce_end(job_id: int) -> None:
    """After the current transaction commits (at once outside one): tell waiters that job `job_id` ended. Never
    raises: waiters re-read the row on their own every RECHECK_SECONDS."""
    def send() -> None:
        try:
            broker_redis().publish(_channel(job_id), b"1")
        except Exception as exc:  # the broker is down: waiters fall back to re-reading
            log.info("could not announce the end of job %s: %s", job_id, exc)

    transaction.on_commit(send)


def wait_for_end(job_id: int, timeout: float, ended: Callable[[], bool]) -> bool:
    """Wait up to `timeout` seconds until `ended()` (a re-read of the row) is true; returns its last answer. Subscribes
    *before* the first read, so an end announced between the read and the wait is not missed."""
    deadline = time.monotonic() + max(0.0, timeout)
    try:
        pubsub = broker_redis().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(_channel(job_id))
    except Exception as exc:  # no broker: poll the row instead, at the recheck pace
        log.info("job wait without notifications: %s", exc)
        pubsub = None
    try:
        while True:
            if ended():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            step = min(left, RECHECK_SECONDS)
            if pubsub is None:
                time.sleep(step)
                continue
            try:
                pubsub.get_message(timeout=step)
            except Exception:  # the connection dropped mid-wait: keep re-reading without it
                pubsub = None
    finally:
        if pubsub is not None:
            try:
                pubsub.close()
            except Exception:
                pass
