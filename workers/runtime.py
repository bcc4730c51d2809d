"""Per-process caches, the bottom of the workers' layers: the active generator and the connection to the vector
store are loaded once per worker child, on its first task, and reused (loading the generator + mediapipe takes
seconds; opening milvus-lite about one).

A worker notices a roll-out on its next task: the active ModelVersion is read each time (one indexed query) and a
different version is loaded in place of the old one."""
from __future__ import annotations

import logging
import os
import threading

import torch
from django.conf import settings

from imagegen.generator import StockImageGenerator
from marketplace import config
from marketplace.catalogue.models import IndexCollection
from marketplace.jobs.models import ModelVersion
from marketplace.plain_reads import first_where
from search.embedders import active_version, get_embedder
from search.index import VectorIndex
from search.parallel_embed import default_threads

from . import index_endpoint

log = logging.getLogger(__name__)
_lock = threading.Lock()
_generator = None
_generator_key = None
_index = None  # the process's connection to the vector store: the first VectorIndex it opened (it owns the client)
_collections: dict = {}  # collection name -> VectorIndex through _index's connection
index_lock = threading.RLock()  # serialises this process's index work (the warm-up thread against tasks)


def _configure_torch() -> None:
    threads = config.read().TORCH_THREADS
    if threads:
        torch.set_num_threads(threads)


def device() -> str | None:
    return None if settings.ML_DEVICE == "auto" else settings.ML_DEVICE


def active_generator():
    """(generator, ModelVersion or None). Falls back to the shipped checkpoint, else an untrained seeded model."""
    global _generator, _generator_key
    version = first_where(ModelVersion, is_active=True)  # every batch: the cheap read
    key = (version.pk, version.checkpoint) if version else "default"
    with _lock:
        if key != _generator_key:
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
    version = IndexCollection.objects.filter(state=IndexCollection.State.LIVE).values_list(
        "embedder_version", flat=True).first()
    return embedder(version or active_embedder_version())


def embedder(version: str):
    """The embedder of `version` on this worker's EMBEDDER_DEVICE (read each call, as the environment was before)."""
    return get_embedder(version, config.read().EMBEDDER_DEVICE)


def active_embedder_version() -> str:
    """The version new index collections are built with: EMBEDDER_VERSION (read each call), else the shipped default."""
    return active_version(config.read().EMBEDDER_VERSION)


def reindex_threads() -> int:
    """Decode + embed threads of a re-index: REINDEX_THREADS (read each call), else the cores, at most 4."""
    return default_threads(config.read().REINDEX_THREADS)


def collection_index(name: str, dim: int, fresh: bool = False, expected_rows: int = 0, create: bool = True):
    """The VectorIndex of collection `name` (created when missing, for `expected_rows`: search.index.index_spec;
    `fresh`: emptied first, for a new build; `create=False`: an alias, never created), through the process's one
    connection to the store (opened on first use)."""
    global _index
    with index_lock:
        if _index is None:
            _collections.clear()
            if "://" not in settings.VECTOR_INDEX_URI:
                os.makedirs(os.path.dirname(os.path.abspath(settings.VECTOR_INDEX_URI)), exist_ok=True)
            _index = VectorIndex(settings.VECTOR_INDEX_URI, name, dim, expected_rows=expected_rows, create=create)
            _collections[name] = _index
            if not _index.server:  # the owner of the file: tell model workers where its server answers searches
                index_endpoint.publish(settings.VECTOR_INDEX_URI)
        ix = _collections.get(name)
        if ix is None or ix.dim != dim:
            ix = _collections[name] = _index.open(name, dim, expected_rows=expected_rows, create=create)
        if fresh:
            ix.clear(expected_rows)
        return ix


def cached_collection(name: str):
    """The VectorIndex of `name` this process has already opened, or None (nothing is opened or created)."""
    return _collections.get(name)


def store_is_open() -> bool:
    """Whether this process holds the connection to the store (the index worker, or a test in its place)."""
    return _index is not None


def store():
    """The connection to the store (the first VectorIndex this process opened), or None before `collection_index`
    opened it (workers.stages.index_lifecycle.index_store opens it through the live collection)."""
    return _index


def forget_collection(name: str) -> None:
    """Drop this process's handle on collection `name` (it is being dropped)."""
    with index_lock:
        _collections.pop(name, None)
