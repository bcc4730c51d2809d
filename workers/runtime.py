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
_index = None  # the process's connection to the vector store: the first VectorIndex it opened (it owns the client)
_collections: dict = {}  # collection name -> VectorIndex through _index's connection
index_lock = threading.RLock()  # serialises this process's index work (the warm-up thread against tasks)


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
    from marketplace.plain_reads import first_where

    version = first_where(ModelVersion, is_active=True)  # every batch: the cheap read
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


def live_embedder():
    """The embedder whose vectors the live index holds: the search stage embeds queries with it and applies its
    confidence gate, the generate stage stores its vector. The single place that answers "which version is live":
    the live IndexCollection row says (one indexed query); before the index worker has made the first collection,
    the active version."""
    from marketplace.catalogue.models import IndexCollection
    from search.embedders import active_version, get_embedder

    version = IndexCollection.objects.filter(state=IndexCollection.State.LIVE).values_list(
        "embedder_version", flat=True).first()
    return get_embedder(version or active_version())


def vector_index():
    """The live collection's VectorIndex: what searches query and incremental changes go to (milvus-lite allows one
    process per file: only the index worker calls this). In a fresh system the first call creates the first
    collection, live at once (workers.index_lifecycle)."""
    return live_search()[1]


def live_search():
    """(embedder, VectorIndex) of the live collection from ONE read of the live row, so a search never pairs one
    version's query vector with another version's collection when a switch lands in between (several index
    processes on a Milvus server)."""
    from search.embedders import get_embedder

    from . import index_lifecycle

    with index_lock:
        live = index_lifecycle.live_collection(create=True)
        embedder = get_embedder(live.embedder_version)
        return embedder, index_lifecycle.search_index(live, embedder.dim)


# The model worker's own way to the live collection (search_here): collection name -> VectorIndex, for one address.
_here: dict = {}
_here_uri: str | None = None
_here_failed: dict = {}  # address -> time.monotonic() of its last failure
HERE_RETRY_S = 10.0  # a failed address is tried again after this (a new owner publishes a new one at once)
HERE_TIMEOUT_S = 2  # whole seconds (pymilvus bounds its retries only by an int): connect, and each search


def search_here():
    """(embedder, VectorIndex) of the live collection for a process that is NOT the index worker (a model worker
    searching right after generating: workers.pipeline.find_in_place), or None when it cannot search here and must
    hand the jobs to the index worker: the setting is off, there is no live collection yet, or the embedded index's
    owner has published no live address (workers.index_endpoint) or the last try of it failed.

    On a Milvus server the address is the server's; embedded, the milvus-lite server that the index worker's client
    started for the file. Never opens the file itself, never creates a collection. In the index worker's own process
    (the tests) its own connection serves."""
    global _here_uri
    import time

    from marketplace.catalogue.models import IndexCollection
    from marketplace.plain_reads import first_where
    from search.embedders import get_embedder

    if not settings.SEARCH_IN_MODEL_WORKER:
        return None
    live = first_where(IndexCollection, state=IndexCollection.State.LIVE)
    if live is None or live.finished_at is None:  # no collection yet, or a first one still filling in place
        return None
    embedder = get_embedder(live.embedder_version)
    if "://" in settings.VECTOR_INDEX_URI or _index is not None:
        from . import index_lifecycle

        return embedder, index_lifecycle.search_index(live, embedder.dim)
    from . import index_endpoint

    uri = index_endpoint.read(settings.VECTOR_INDEX_URI)
    if uri is None or time.monotonic() - _here_failed.get(uri, -HERE_RETRY_S) < HERE_RETRY_S:
        return None
    with index_lock:
        if uri != _here_uri:
            forget_search_here()
            _here_uri = uri
        ix = _here.get(live.name)
        if ix is None or ix.dim != embedder.dim:
            from search.index import VectorIndex

            try:
                first = next(iter(_here.values()), None)
                ix = first.open(live.name, embedder.dim, create=False) if first is not None else VectorIndex(
                    uri, live.name, embedder.dim, create=False, timeout=HERE_TIMEOUT_S)
            except Exception as exc:
                search_here_failed(exc)
                return None
            _here[live.name] = ix
    return embedder, ix


def search_here_failed(exc: BaseException | None = None) -> None:
    """The last search through `search_here` failed: drop the connection and leave that address alone for
    HERE_RETRY_S (the jobs go to the index worker meanwhile)."""
    import time

    with index_lock:
        if _here_uri is not None:
            _here_failed[_here_uri] = time.monotonic()
            log.warning("searching the index at %s from this process failed (%s); the index worker searches for "
                        "the next %.0f s", _here_uri, exc, HERE_RETRY_S)
        forget_search_here()


def forget_search_here() -> None:
    global _here_uri
    with index_lock:
        first = next(iter(_here.values()), None)
        _here.clear()
        _here_uri = None
        if first is not None:
            try:
                first.close()
            except Exception:
                pass


def collection_index(name: str, dim: int, fresh: bool = False, expected_rows: int = 0, create: bool = True):
    """The VectorIndex of collection `name` (created when missing, for `expected_rows`: search.index.index_spec;
    `fresh`: emptied first, for a new build; `create=False`: an alias, never created), through the process's one
    connection to the store (opened on first use)."""
    global _index
    with index_lock:
        if _index is None:
            from search.index import VectorIndex

            _collections.clear()
            if "://" not in settings.VECTOR_INDEX_URI:
                os.makedirs(os.path.dirname(os.path.abspath(settings.VECTOR_INDEX_URI)), exist_ok=True)
            _index = VectorIndex(settings.VECTOR_INDEX_URI, name, dim, expected_rows=expected_rows, create=create)
            _collections[name] = _index
            if not _index.server:  # the owner of the file: tell model workers where its server answers searches
                from . import index_endpoint

                index_endpoint.publish(settings.VECTOR_INDEX_URI)
        ix = _collections.get(name)
        if ix is None or ix.dim != dim:
            ix = _collections[name] = _index.open(name, dim, expected_rows=expected_rows, create=create)
        if fresh:
            ix.clear(expected_rows)
        return ix


def index_store():
    """The process's connection to the store (a VectorIndex: `collections()`, `drop_collection()`)."""
    with index_lock:
        if _index is None:
            vector_index()
        return _index


def drop_collection(name: str) -> bool:
    with index_lock:
        _collections.pop(name, None)
        return index_store().drop_collection(name)


def _warm_search_here(vector, wait_s: float = 60.0) -> None:
    """Connect to the index and search once (`search_here`), so that a model worker's first photo does not pay for
    it: measured 260 ms (the connection and the collection's index description). The index worker starting beside
    this one may not have published its address yet: try for up to `wait_s`."""
    import time

    deadline = time.monotonic() + wait_s
    while True:
        searcher = search_here()
        if searcher is not None:
            embedder, ix = searcher
            try:
                if len(vector) == embedder.dim:
                    ix.search(vector[None, :], 1)
            except Exception as exc:  # e.g. a collection the index worker has yet to (re)create: tasks find out
                log.info("warm-up search through %s failed: %s", _here_uri or settings.VECTOR_INDEX_URI, exc)
                forget_search_here()
            return
        if not settings.SEARCH_IN_MODEL_WORKER or time.monotonic() >= deadline:
            return
        time.sleep(1.0)


def warm_up(what: str) -> None:
    """Load what a worker child will need (runs in a background thread; a task arriving meanwhile waits on the lock)."""
    from django.db import connection

    try:
        if what == "generator":
            from PIL import Image

            generator, _ = active_generator()
            result = generator.generate(Image.new("RGB", (128, 128), "white"), "top")  # mediapipe, both stages once
            vector = live_embedder().embed_image(result.stock)  # loads the embedder's weights, runs it once
            _warm_search_here(vector)
        elif what == "preprocess":  # a cpu worker (PREPROCESS_SEPARATE): mediapipe only, no generator forward
            from PIL import Image

            generator, _ = active_generator()
            generator.preprocess(Image.new("RGB", (128, 128), "white"), "top")
        elif what == "index":
            from . import index_lifecycle

            index_lifecycle.warm_up()
        log.info("warm-up of %s done", what)
    except Exception:
        log.exception("warm-up of %s failed; the first task will load it instead", what)
    finally:
        connection.close()  # this thread's database connection
