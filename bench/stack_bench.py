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


def django_for_fresh_stack(prefix: str) -> tuple[Path, int]:
    """Point this process at a new var folder and a free valkey port (it publishes too: seeding), set Django up and
    migrate. Returns (var folder, valkey port) for `seeded_stack`."""
    var = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["MARKETPLACE_VAR_DIR"] = str(var)
    from workers.stack import free_port

    valkey_port = free_port()
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:{valkey_port}/0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketplace.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return var, valkey_port


@contextmanager
def seeded_stack(var: Path, valkey_port: int, items: int, **stack_kwargs):
    """The stack without a train worker, `items` catalogue items seeded and indexed."""
    from marketplace.catalogue.models import StockImage
    from workers.catalogue_seed import seed_catalogue
    from workers.stack import Stack, free_port

    with Stack(var, web_port=free_port(), valkey_port=valkey_port, train_worker=False, **stack_kwargs) as stack:
        seed_catalogue(items)
        while StockImage.objects.filter(index_dirty=True).exists():
            time.sleep(0.2)
        yield stack
