"""What the benchmarks that drive the whole embedded stack share: Django set up against a fresh temporary folder,
and a running stack (valkey, workers, web) whose catalogue is seeded and indexed before the clock starts.

    var, valkey_port = stack_bench.django_for_fresh_stack("bench-uploads-")
    with stack_bench.seeded_stack(var, valkey_port, items=80) as stack: ...
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import django  # noqa: E402  (after the sys.path line: the repository's packages import from ROOT)
from django.apps import apps  # noqa: E402
from django.core.management import call_command  # noqa: E402

from devtools.processes import free_port  # noqa: E402
from devtools.stack import Stack  # noqa: E402


def django_for_fresh_stack(prefix: str) -> tuple[Path, int]:
    """Point this process at a new var folder and a free valkey port (it publishes too: seeding), set Django up and
    migrate. Returns (var folder, valkey port) for `seeded_stack`."""
    var = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["MARKETPLACE_VAR_DIR"] = str(var)
    valkey_port = free_port()
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{valkey_port}/0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    django.setup()
    call_command("migrate", verbosity=0)
    return var, valkey_port


@contextmanager
def seeded_stack(var: Path, valkey_port: int, items: int, **stack_kwargs):
    """The stack without a train worker, `items` catalogue items seeded and indexed."""
    # lazy: devtools.catalogue_seed imports Django models, which exist only once django_for_fresh_stack() set Django up
    from devtools.catalogue_seed import seed_catalogue

    StockImage = apps.get_model("catalogue", "StockImage")
    with Stack(var, web_port=free_port(), valkey_port=valkey_port, train_worker=False, **stack_kwargs) as stack:
        seed_catalogue(items)
        while StockImage.objects.filter(index_dirty=True).exists():
            time.sleep(0.2)
        yield stack


def group_cpu_s(pgid: int | str) -> float:
    """CPU seconds (user + system) used so far by the live processes of one process group: a service of the stack
    (each is started in its own session, so a Celery worker's pool children and gunicorn's workers count with it).
    A string instead counts the processes of that command name (PostgreSQL's backends leave their starter's group)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                comm, rest = fh.read().split(" (", 1)[1].rsplit(")", 1)
        except (OSError, ValueError):  # gone meanwhile
            continue
        fields = rest.split()
        # after the command's ")": state ppid pgrp session ... utime (11) stime (12), counting from state (0)
        if (comm == pgid) if isinstance(pgid, str) else (int(fields[2]) == pgid):
            total += int(fields[11]) + int(fields[12])
    return total / tick


def machine_busy_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (all cores)."""
    with open("/proc/stat") as fh:
        values = [int(v) for v in fh.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


class CpuMeter:
    """Where the cores went during a piece of work: CPU seconds per service of the stack (and of any extra process
    groups, e.g. PostgreSQL), of this process (the benchmark's clients), and the machine's busy fraction.

        meter = CpuMeter(stack, extra={"postgres": "postgres"}); ...work...; usage = meter.stop()
    """

    def __init__(self, stack, extra: dict[str, int | str] | None = None):
        self.groups = {s.name: s.proc.pid for s in stack.services}
        self.groups.update(extra or {})
        self.start = {name: group_cpu_s(pgid) for name, pgid in self.groups.items()}
        self.self_start = sum(os.times()[:2])
        self.busy_start, self.total_start = machine_busy_s()
        self.wall_start = time.time()

    def stop(self) -> dict:
        used = {name: group_cpu_s(pgid) - self.start[name] for name, pgid in self.groups.items()}
        used["benchmark clients (this process)"] = sum(os.times()[:2]) - self.self_start
        busy, total = machine_busy_s()
        busy -= self.busy_start
        total -= self.total_start
        used["other (outside the stack)"] = max(0.0, busy - sum(used.values()))
        return {"cpu_s": used, "wall_s": time.time() - self.wall_start, "machine_busy_s": busy,
                "machine_busy_fraction": busy / total if total else 0.0}
