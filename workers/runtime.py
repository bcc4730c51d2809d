"""Per-process caches: the active generator and the vector index are loaded once per worker child, on its first
task, and reused (loading the generator + mediapipe takes seconds; opening milvus-lite about one).

A worker notices a roll-out on its next task: the active ModelVersion is read each time (one indexed query) and a
different version is loaded in place of the old one."""
from __future__ import annotations

import logging
import os
import threading

from django.conf import settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_generator = None
_generator_key = None
_index = None


def _configure_torch() -> None:
    import torch

    threads = int(os.environ.get("TORCH_THREADS", "0"))
    if threads:
        torch.set_num_threads(threads)


def device() -> str | None:
    return None if settings.ML_DEVICE == "auto" else settings.ML_DEVICE


def active_generator():
    """(generator, ModelVersion or None). Falls back to the shipped checkpoint, else an untrained seeded model."""
    global _generator, _generator_key
    from marketplace.jobs.models import ModelVersion

    version = ModelVersion.objects.filter(is_active=True).first()
    key = (version.pk, version.checkpoint) if version else "default"
    with _lock:
        if key != _generator_key:
            from imagegen.generator import StockImageGenerator

            _configure_torch()
            if version:
                _generator = StockImageGenerator.from_checkpoint(version.checkpoint, device=device())
            else:
                _generator = StockImageGenerator.default(device=device())
            _generator_key = key
            log.info("loaded generator %s", _generator.info.get("label"))
    return _generator, version


def vector_index():
    """The process's one VectorIndex (milvus-lite allows one process per file: only the index worker calls this)."""
    global _index
    with _lock:
        if _index is None:
            from search.embedding import EMBEDDER_VERSION, EMBEDDING_DIM
            from search.index import VectorIndex, collection_name

            if "://" not in settings.VECTOR_INDEX_URI:
                os.makedirs(os.path.dirname(os.path.abspath(settings.VECTOR_INDEX_URI)), exist_ok=True)
            _index = VectorIndex(settings.VECTOR_INDEX_URI, collection_name(EMBEDDER_VERSION), EMBEDDING_DIM)
    return _index


def warm_up(what: str) -> None:
    """Load what a worker child will need (runs in a background thread; a task arriving meanwhile waits on the lock)."""
    from django.db import connection

    try:
        if what == "generator":
            from PIL import Image

            generator, _ = active_generator()
            generator.generate(Image.new("RGB", (128, 128), "white"), "top")  # loads mediapipe, runs both stages once
        elif what == "index":
            vector_index()
        log.info("warm-up of %s done", what)
    except Exception:
        log.exception("warm-up of %s failed; the first task will load it instead", what)
    finally:
        connection.close()  # this thread's database connection
