"""A worker child's warm-up (WORKER_WARMUP, started by workers.celery_app in a background thread): load what its tasks
will need, so the first job after a start or a deploy does not pay seconds for it."""
from __future__ import annotations

import logging

from django.db import connection
from PIL import Image

from .. import runtime
from . import in_place_search, index_lifecycle

log = logging.getLogger(__name__)


def warm_up(what: str) -> None:
    """Load what a worker child will need (runs in a background thread; a task arriving meanwhile waits on the lock)."""
    try:
        if what == "generator":
            generator, _ = runtime.active_generator()
            result = generator.generate(Image.new("RGB", (128, 128), "white"), "top")  # mediapipe, both stages once
            vector = runtime.live_embedder().embed_image(result.stock)  # loads the embedder's weights, runs it once
            in_place_search.warm(vector)
        elif what == "preprocess":  # a cpu worker (PREPROCESS_SEPARATE): mediapipe only, no generator forward
            generator, _ = runtime.active_generator()
            generator.preprocess(Image.new("RGB", (128, 128), "white"), "top")
        elif what == "index":
            index_lifecycle.warm_up()
        log.info("warm-up of %s done", what)
    except Exception:
        log.exception("warm-up of %s failed; the first task will load it instead", what)
    finally:
        connection.close()  # this thread's database connection
