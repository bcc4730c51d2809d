"""One photo of the generate stage, and what every photo stage shares.

`prepare_photo` decodes and preprocesses a job's photo (mediapipe, per photo: one unusable photo fails alone), or
loads what the separate CPU stage stored (PREPROCESS_SEPARATE); `failure_reason` is the one sentence a failed job
records; `png` is how generated images are written."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from types import SimpleNamespace

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image

from imagegen.images import ImageInputError, load_image
from marketplace.jobs.models import ImageJob


def png(image) -> ContentFile:
    """PNG without compression (zlib level 0): the generated images are small (64 px: 12.4 KB), and each job writes
    three of them on the way to its answer. Measured on a 64 px photo: level 0 0.05 ms, 12.4 KB; level 1 0.18 ms,
    8.8 KB; level 6 (PIL's default) 0.43 ms, 8.4 KB: 0.4 ms a photo saved for 11 KB more on disk."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=0)
    return ContentFile(buf.getvalue())

def failure_reason(stage: str, exc: BaseException) -> str:
    return f"{stage} failed: {type(exc).__name__}: {exc}"

@dataclass
class Photo:
    """One job of a batch, as far as it got."""

    job: ImageJob
    marks: dict
    timings: dict = field(default_factory=dict)
    pre: object = None  # a PreprocessResult (or the stored one: image, method, warnings)
    result: object = None  # GenerationResult
    vector: object = None

class ReadError(Exception):
    """The stored photo cannot be decoded (or is gone): the user's photo, not the worker, is at fault."""

def prepare_photo(p: Photo, generator) -> None:
    """Decode and preprocess one photo (mediapipe, per photo), or load what the separate CPU stage stored."""
    job = p.job
    if job.preprocessed_input:
        with job.preprocessed_input.open("rb") as fh:
            image = Image.open(fh).convert("RGB")
        p.pre = SimpleNamespace(image=image, method=job.preprocess_method, warnings=list(job.warnings or []))
        p.timings = {k: job.timings[k] for k in ("decode", "preprocess") if k in (job.timings or {})}
        return
    t0 = time.perf_counter()
    try:
        with job.source_image.open("rb") as fh:
            # The web process's limits (marketplace/uploads.py), so what it accepted is never refused here.
            photo = load_image(fh.read(), max_pixels=settings.UPLOAD_MAX_PIXELS, min_side=settings.UPLOAD_MIN_SIDE,
                               max_bytes=settings.UPLOAD_MAX_BYTES)
    except (ImageInputError, FileNotFoundError) as exc:
        raise ReadError(str(exc)) from exc
    p.timings["decode"] = (time.perf_counter() - t0) * 1000
    p.pre, p.timings["preprocess"] = generator.preprocess(photo, job.garment_type)
