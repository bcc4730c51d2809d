"""Where a request's time goes, per phase, in a `Server-Timing` response header (issue #12: the upload tail).

    with timed_phase("validate"): ...

A phase records its own time, without the phases nested in it (the `db` phase of an upload does not count the
`publish` that runs on its commit), so the phases add up to the request's handling time and `app` is the rest
(parsing, auth, serializing). The client's time minus `total` is what the request waited outside Django: in the
server's accept queue or for a free thread. Outside a request (workers, management commands) a phase costs a
`perf_counter` call and records nothing.

The header names phases and milliseconds only; `SERVER_TIMING=0` turns it off."""
from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

_current: ContextVar[dict | None] = ContextVar("request_timing", default=None)


@contextmanager
def timed_phase(name: str):
    record = _current.get()
    if record is None:
        yield
        return
    outer_nested = record["_nested"]
    record["_nested"] = 0.0
    t0 = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t0
        own = elapsed - record["_nested"]
        record["phases"][name] = record["phases"].get(name, 0.0) + own
        record["_nested"] = outer_nested + elapsed


def header_value(phases: dict[str, float], total: float) -> str:
    parts = [f"{name};dur={seconds * 1000:.1f}" for name, seconds in phases.items()]
    parts.append(f"app;dur={max(0.0, total - sum(phases.values())) * 1000:.1f}")
    parts.append(f"total;dur={total * 1000:.1f}")
    return ", ".join(parts)


class ServerTiming:
    """Outermost middleware: times the whole Django handling and adds the phases recorded inside it."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = getattr(settings, "SERVER_TIMING", True)

    def __call__(self, request):
        if not self.enabled:
            return self.get_response(request)
        record = {"phases": {}, "_nested": 0.0}
        token = _current.set(record)
        t0 = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response["Server-Timing"] = header_value(record["phases"], time.perf_counter() - t0)
        return response


def parse_header(value: str) -> dict[str, float]:
    """`Server-Timing` back into {phase: ms} (the benchmark reads it)."""
    out = {}
    for part in value.split(","):
        name, _, rest = part.strip().partition(";dur=")
        if name and rest:
            out[name] = float(rest)
    return out
