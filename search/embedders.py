"""Which image embedder search uses, by version, and how confident a search answer is.

Every vector in the index was made by one embedder version, and a query must be embedded by the same one: the index
collection is named after the version (``search.index.collection_name``). ``get_embedder()`` returns the active
embedder: the ``EMBEDDER_VERSION`` environment variable when set, else ``DEFAULT_VERSION``. Old versions stay loadable
so the index that is still serving during a rebuild can be queried with the embedder that filled it.

Versions:

* ``hcg1``: the hand-made colour + layout + gradient descriptor (``search.embedding``), about 1 ms per image.
* learned versions: a small CNN trained with a metric-learning loss (``search.learned``), weights shipped in
  ``search/weights/<version>.pt`` with the generator version they were trained against and a calibrated confidence
  gate. A version may fuse G2's output with the preprocessed photo it was made from on the query side
  (``query_vectors``; ``search.learned``): ``lite0-v2`` does.

The gate (``ConfidenceGate``) answers "is the best hit right often enough to show as a confident match?": it was
calibrated on the validation split so that a confident top-1 is right at least 90 % of the time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
HANDMADE_VERSION = "hcg1"
DEFAULT_VERSION = "lite0-v2"


@dataclass(frozen=True)
class ConfidenceGate:
    """A score threshold on the best hit (cosine similarity of unit vectors) and, optionally, on its margin over the
    best hit of a *different* item. Both were picked on the validation split (``calibration`` says how)."""

    threshold: float
    margin: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_confident(self, item_scores: Sequence[float]) -> bool:
        """``item_scores``: the best score of each distinct item, best first. An empty list is never confident."""
        if not len(item_scores):
            return False
        top = float(item_scores[0])
        second = float(item_scores[1]) if len(item_scores) > 1 else -1.0
        return top >= self.threshold and (top - second) >= self.margin


class Embedder(Protocol):
    version: str
    dim: int
    gate: ConfidenceGate
    info: dict[str, Any]

    def embed_images(self, images: Sequence[Any]) -> np.ndarray: ...

    def embed_image(self, image: Any) -> np.ndarray: ...


class HandmadeEmbedder:
    """The hand-made descriptor behind the common interface.

    Its gate is closed: calibrated like the learned ones (``python -m search.train --calibrate-only hcg1``, val split
    of a fresh procedural seed at a 2,000-item gallery), no threshold reaches 90 % confident precision: its top-1 there
    is 18 %, and junk (blank, flat colour, noise) scores up to 0.85, as high as real matches. So with this embedder
    every answer is shown as low-confidence candidates."""

    version = HANDMADE_VERSION
    # It reads a 64 px bilinear reduction of the image; a stock image's thumbnail is exactly that (identical vector),
    # so a re-index may read the thumbnail instead of the original (search.parallel_embed).
    reads_thumbnail = True

    def __init__(self) -> None:
        from . import embedding

        self._embedding = embedding
        self.dim = embedding.EMBEDDING_DIM
        self.gate = ConfidenceGate(threshold=1.01, calibration={
            "target_precision": 0.9, "coverage": 0.0, "gallery": 2000, "val_top1_at_gallery": 0.183,
            "junk_top1_max": 0.846, "note": "no threshold reaches the target precision"})
        self.info = {"version": self.version, "kind": "hand-made", "dim": self.dim}

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        return self._embedding.embed_images(list(images))

    def embed_image(self, image: Any) -> np.ndarray:
        return self._embedding.embed_image(image)


# Embedders registered in code (``register_embedder``): tests, experiments. Looked up before the shipped ones.
_REGISTERED: dict[str, Any] = {}


def register_embedder(version: str, factory) -> None:
    """Make ``get_embedder(version)`` return ``factory()`` (``factory=None`` removes the registration). Clears
    the loader's cache so the next call sees the change."""
    if factory is None:
        _REGISTERED.pop(version, None)
    else:
        _REGISTERED[version] = factory
    _load.cache_clear()


def active_version() -> str:
    return os.environ.get("EMBEDDER_VERSION") or DEFAULT_VERSION


def available_versions() -> list[str]:
    """The hand-made version plus every learned embedder shipped in ``search/weights``."""
    learned = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt")) if WEIGHTS_DIR.is_dir() else []
    return [HANDMADE_VERSION, *learned, *sorted(set(_REGISTERED) - {HANDMADE_VERSION, *learned})]


def get_embedder(version: str | None = None) -> Embedder:
    """The embedder of ``version`` (default: the active one, read afresh each call), loaded once per process."""
    return _load(version or active_version())


@lru_cache(maxsize=4)
def _load(version: str) -> Embedder:
    if version in _REGISTERED:
        return _REGISTERED[version]()
    if version == HANDMADE_VERSION:
        return HandmadeEmbedder()
    path = WEIGHTS_DIR / f"{version}.pt"
    if not path.is_file():
        raise ValueError(f"unknown embedder version {version!r}; available: {', '.join(available_versions())}")
    from .learned import LearnedEmbedder

    return LearnedEmbedder.from_file(path, device=embedder_device())


def query_vectors(embedder: Embedder, generated: Sequence[Any], photos: Sequence[Any] | None = None) -> np.ndarray:
    """The search query of each generated (G2) image: the embedder's ``embed_queries`` when it has one (a learned
    version with a ``photo_weight`` fuses G2's output with the preprocessed photo it was made from,
    ``search.learned``), else the embedding of the generated image. Catalogue images always go through
    ``embed_images``."""
    fn = getattr(embedder, "embed_queries", None)
    return fn(list(generated), list(photos) if photos is not None else None) if fn else embedder.embed_images(
        list(generated))


def embedder_device() -> str:
    """``EMBEDDER_DEVICE``: "cpu" (default: a query at a time, where a GPU buys nothing), "cuda", or "auto" (cuda when
    there is one). A GPU worker that embeds its generated images in batches sets it to "auto"."""
    device = os.environ.get("EMBEDDER_DEVICE", "cpu")
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
