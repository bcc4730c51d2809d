"""Decode and embed image files on a few threads: what a re-index spends its time on.

Measured (issue #11, `bench/bench_reindex.py`): 91 % of a re-index was decoding stock image files and embedding
them. Threads, not processes: Pillow decodes and resizes with the GIL released, the hand-made descriptor runs on a
whole chunk at a time in numpy (long calls that release it too) and torch convolves without it, so 2 threads embed
1.6-1.8x as many images a second as one on this 2-core machine. A process pool did the same in a benchmark but not
where it matters: the index worker's tasks run in a Celery prefork child, a daemonic process, which may not start
processes, so it embedded on one core.

Stock-image thumbnails: an embedder that reads the hand-made descriptor's 64 px reduction (`reads_thumbnail`) is
given the reduction kept beside the stock image when there is one (a 3 KB PNG decodes 8x faster than the 256 px
original, and gives the identical vector: `search.embedding.reduce_image`); where there is none yet, the original is
read and its reduction written (`thumbnail_out`), so every stock image is read in full once.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .embedders import get_embedder
from .embedding import reduce_image

CHUNK = 128  # images embedded in one call: large enough that numpy's per-call cost is small beside the work

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def default_threads(configured: int = 0) -> int:
    """``configured`` (the workers pass ``REINDEX_THREADS``: marketplace/config.py) when not 0, else the machine's cores
    (at most 4)."""
    return configured or min(4, os.cpu_count() or 1)


def _get_pool(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(threads, thread_name_prefix="embed")
            _pool_size = threads
        return _pool


def shutdown() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None


def _open_rgb(path: str):
    with Image.open(path) as im:
        return im.convert("RGB")


def _write_thumbnail(image, path: str) -> None:
    """The descriptor's reduction as a PNG, written under a temporary name and renamed: a crash never leaves a
    truncated thumbnail behind."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{threading.get_ident()}.tmp")
    reduce_image(image).save(tmp, format="PNG")
    os.replace(tmp, target)


def _read(path: str, thumbnail: str | None, thumbnail_out: str | None):
    """The image to embed for one stock image, or None when it cannot be read. A damaged thumbnail is passed over
    for the original."""
    if thumbnail:
        try:
            return _open_rgb(thumbnail)
        except Exception:
            pass
    try:
        image = _open_rgb(path)
    except Exception:  # a missing or damaged file must not block the rest: the caller marks it unreadable
        return None
    if thumbnail_out:
        try:
            _write_thumbnail(image, thumbnail_out)
        except OSError:  # a cache: the next read of the original writes it again
            pass
    return image


def _embed_chunk(embedder, paths, thumbnails, thumbnails_out) -> tuple[np.ndarray, list[bool]]:
    images = [_read(p, t, o) for p, t, o in zip(paths, thumbnails, thumbnails_out)]
    ok = [im is not None for im in images]
    images = [im for im in images if im is not None]
    vectors = np.asarray(embedder.embed_images(images), np.float32) if images else np.zeros(
        (0, embedder.dim), np.float32)
    return vectors, ok


def embed_files(version: str, paths: Sequence[str], threads: int | None = None,
                thumbnails: Sequence[str | None] | None = None,
                thumbnails_out: Sequence[str | None] | None = None,
                device: str = "cpu") -> tuple[np.ndarray, list[bool]]:
    """Vectors of the readable files among `paths` (in order) and a readable flag per path, embedded with the
    embedder of `version` (on `device`: `search.embedders.get_embedder`) on `threads` threads (default
    `default_threads()`), CHUNK images a call.

    `thumbnails[i]`: a file to read instead of `paths[i]` (the embedder's own reduction of it); `thumbnails_out[i]`:
    where to write that reduction after reading `paths[i]`. Both only for an embedder that `reads_thumbnail`."""
    embedder = get_embedder(version, device)
    n = len(paths)
    if not getattr(embedder, "reads_thumbnail", False):
        thumbnails = thumbnails_out = None
    thumbnails = list(thumbnails) if thumbnails is not None else [None] * n
    thumbnails_out = list(thumbnails_out) if thumbnails_out is not None else [None] * n
    threads = default_threads() if threads is None else threads
    spans = [(s, min(n, s + CHUNK)) for s in range(0, n, CHUNK)] or [(0, 0)]
    args = [(embedder, paths[s:e], thumbnails[s:e], thumbnails_out[s:e]) for s, e in spans]
    if threads <= 1 or len(spans) == 1:
        results = [_embed_chunk(*a) for a in args]
    else:
        results = list(_get_pool(threads).map(lambda a: _embed_chunk(*a), args))
    ok = [flag for _, flags in results for flag in flags]
    vectors = np.concatenate([v for v, _ in results]) if results else np.zeros((0, embedder.dim), np.float32)
    return vectors, ok
