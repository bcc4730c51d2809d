"""Decode and embed image files in parallel processes: what a re-index spends its time on.

Measured (issue #11): 91 % of a re-index was decoding stock image files and embedding them, one image after the other
in one process. Threads do not help (PIL's decode and the hand-made descriptor's numpy hold the GIL long enough that
2 threads measured no faster than one); processes do. A pool of `processes` spawned workers (spawn, not fork: the
parent holds gRPC channels and torch threads, which a forked child must not inherit) lives as long as the process
that made it, so its start-up (imports, the embedder's weights) is paid once per worker, not once per batch.

Only embedders that a fresh process can load by version (`search.embedders.get_embedder`) go to the pool; one
registered at run time in this process (tests) is embedded here, in order, as before.
"""
from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Sequence

import numpy as np

CHUNK = 64  # files per task sent to a pool worker: large enough that the round trip is small beside the work

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def default_processes() -> int:
    """REINDEX_PROCESSES, else the machine's cores (at most 8)."""
    return int(os.environ.get("REINDEX_PROCESSES", "0")) or min(8, os.cpu_count() or 1)


def _embed_files(version: str, paths: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
    """(vectors of the readable files, which files were readable): runs in a pool worker, or here."""
    from PIL import Image

    from .embedders import get_embedder

    embedder = get_embedder(version)
    images, ok = [], []
    for path in paths:
        try:
            with Image.open(path) as im:
                images.append(im.convert("RGB"))
            ok.append(True)
        except Exception:  # a missing or damaged file must not block the rest: the caller marks it unreadable
            ok.append(False)
    vectors = np.asarray(embedder.embed_images(images), np.float32) if images else np.zeros(
        (0, embedder.dim), np.float32)
    return vectors, ok


def _init_worker() -> None:
    os.environ.setdefault("TORCH_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)  # one core per worker: the pool is the parallelism
    except ImportError:
        pass


def _get_pool(processes: int) -> ProcessPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != processes:
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)

            _pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_init_worker)
            _pool_size = processes
        return _pool


def shutdown() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


atexit.register(shutdown)


def _is_daemon() -> bool:
    """A daemonic process may not start children (a Celery prefork pool child is one: the index worker's tasks run
    there), so it embeds in-process; the pool serves `bench/bench_reindex.py` and non-prefork workers."""
    return bool(multiprocessing.current_process().daemon)


def embed_files(version: str, paths: Sequence[str], processes: int | None = None) -> tuple[np.ndarray, list[bool]]:
    """Vectors of the readable files among `paths` (in order) and a readable flag per path. Embedded by `processes`
    spawned workers (default `default_processes()`); in this process when that is 1, when there are fewer paths than
    one CHUNK, or when `version` is registered only in this process."""
    from .embedders import _REGISTERED

    processes = default_processes() if processes is None else processes
    if processes <= 1 or len(paths) <= CHUNK or version in _REGISTERED or _is_daemon():
        return _embed_files(version, paths)
    pool = _get_pool(processes)
    chunks = [list(paths[s:s + CHUNK]) for s in range(0, len(paths), CHUNK)]
    results = list(pool.map(_embed_files, [version] * len(chunks), chunks))
    ok = [flag for _, flags in results for flag in flags]
    dim = results[0][0].shape[1]
    vectors = np.concatenate([v for v, _ in results]) if results else np.zeros((0, dim), np.float32)
    return vectors, ok
