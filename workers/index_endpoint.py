"""Where other processes on this machine can query the embedded index: the address of the milvus-lite server that
the index worker's client started for the file.

Why: milvus-lite lets ONE process open a given .db file, so the index worker owns it. But the client does not read
the file itself: it starts a milvus-lite server process for it and talks to that server over a Unix socket, and a
server answers any client. A model worker that knows the socket searches the catalogue itself, right after it
generated the image, instead of handing the job to the index worker by a second task (a commit, a message, a claim
and a read: about 7 ms of a photo's 66 on 2 cores, bench/bench_pipeline.py). Only the owner ever writes; the others only
search, and fall back to the hand-off whenever the address is missing, stale or fails.

The owner writes `{"uri": "unix:/tmp/...sock", "pid": ...}` next to the file (`.<name>.endpoint`) when it opens the
store. A reader trusts it only while that pid is alive: the milvus-lite server stops when its owner's file lock goes
(the owner died), so a dead pid means a dead socket, and asking costs a `kill(pid, 0)` and a read of /proc, not a
connect timeout. A reader also bounds each search by a few seconds (runtime.HERE_TIMEOUT_S): an owner that dies
between the check and the search costs one hand-off, not pymilvus's minutes of retries.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def path_for(db_file: str) -> Path:
    p = Path(db_file).absolute()
    return p.parent / f".{p.name}.endpoint"


def publish(db_file: str) -> str | None:
    """Record the socket of the milvus-lite server this process's client started for `db_file` (call it once the
    store is open). Returns the address, or None when there is none to publish (never raises: searching from other
    processes is an optimisation, and without the file they hand jobs to this one as before)."""
    try:  # lazy: milvus-lite's server manager, only in the process that owns the file
        from milvus_lite.server_manager import server_manager_instance

        # Idempotent: answers the running server's address (the client's own call started it).
        uri = server_manager_instance.start_and_get_uri(str(Path(db_file).absolute()))
        if not uri:
            return None
        target = path_for(db_file)
        tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"uri": uri, "pid": os.getpid()}))
        os.replace(tmp, target)  # readers see the old address or the new one, never half of one
        return uri
    except Exception as exc:
        log.warning("could not publish the index server's address: %s", exc)
        return None


def read(db_file: str) -> str | None:
    """The address of the live owner's milvus-lite server for `db_file`, or None (no owner has published one, or
    the one that did is gone)."""
    try:
        record = json.loads(path_for(db_file).read_text())
        uri, pid = str(record["uri"]), int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not uri.startswith("unix:") or not os.path.exists(uri[len("unix:"):]):
        return None
    return uri if _alive(pid) else None


def _alive(pid: int) -> bool:
    """Is `pid` a running process? A killed owner its parent has not reaped yet is a zombie: `kill(pid, 0)` still
    answers for it, /proc says `Z`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return True  # no /proc: kill's answer stands
