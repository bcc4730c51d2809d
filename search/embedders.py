"""Which image embedder search uses, by version, and how confident a search answer is.

Every vector in the index was made by one embedder version, and a query must be embedded by the same one: the index
collection is named after the version (``search.index.collection_name``). ``get_embedder(version)`` returns the
embedder of a version; ``active_version(configured)`` is the version new collections are built with: the one the
deployment configures (the workers pass ``EMBEDDER_VERSION``, marketplace/config.py), else ``DEFAULT_VERSION``. This
package reads no environment variable. Old versions stay loadable so the index that is still serving during a rebuild
can be queried with the embedder that filled it.

Versions:

* ``hcg1``: the hand-made colour + layout + gradient descriptor (``search.embedding``), about 1 ms per image.
* learned versions: a small CNN trained with a metric-learning loss (``search.learned``), weights shipped in
  ``search/weights/<version>.pt`` with the generator version they were trained against and a calibrated confidence
  gate. A version may fuse G2's output with the preprocessed photo it was made from on the query side
  (``query_vectors``; ``search.learned``): ``lite0-v2`` does.

The gate (``ConfidenceGate``, defined in ``search.gate`` and named here too) answers "is the best hit right often
enough to show as a confident match?": it was calibrated on the validation split so that a confident top-1 is right at
least 90 % of the time.

torch is not imported here: only loading a learned version imports ``search.learned`` (and torch with it), so a
process that uses the hand-made descriptor alone never pays for it.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from . import embedding
from .gate import ConfidenceGate

__all__ = ["ConfidenceGate", "DEFAULT_VERSION", "Embedder", "HANDMADE_VERSION", "HandmadeEmbedder", "WEIGHTS_DIR",
           "active_version", "available_versions", "get_embedder", "query_vectors", "register_embedder"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
HANDMADE_VERSION = "hcg1"
DEFAULT_VERSION = "lite0-v2"


class Embedder(Protocol):
    version: str
    dim: int
    gate: ConfidenceGate
    info: dict[str, Any]

    def embed_images(self, images: Sequence[Any]) -> np.ndarray: ...

    def embed_image(self, image: Any) -> np.ndarray: ...


class HandmadeEmbedder:
    """The hand-made descriptor behind the common interface.

    Its gate is closed: calibrated like the learned ones (``python -m offline.embedder_training --calibrate-only hcg1``,
    val split of a fresh procedural seed at a 2,000-item gallery), no threshold reaches 90 % confident precision: its
    top-1 there is 18 %, and junk (blank, flat colour, noise) scores up to 0.85, as high as real matches. So with this
    embedder every answer is shown as low-confidence candidates."""

    version = HANDMADE_VERSION
    # It reads a 64 px bilinear reduction of the image; a stock image's thumbnail is exactly that (identical vector),
    # so a re-index may read the thumbnail instead of the original (search.parallel_embed).
    reads_thumbnail = True

    def __init__(self) -> None:
        self.dim = embedding.EMBEDDING_DIM
        self.gate = ConfidenceGate(threshold=1.01, calibration={
            "target_precision": 0.9, "coverage": 0.0, "gallery": 2000, "val_top1_at_gallery": 0.183,
            "junk_top1_max": 0.846, "note": "no threshold reaches the target precision"})
        self.info = {"version": self.version, "kind": "hand-made", "dim": self.dim}

    def embed_images(self, images: Sequence[Any]) -> np.ndarray:
        return embedding.embed_images(list(images))

    def embed_image(self, image: Any) -> np.ndarray:
        return embedding.embed_image(image)


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


def active_version(configured: str | None = None) -> str:
    """The version new index collections are built with: ``configured`` (the deployment's choice, which the workers
    pass from ``EMBEDDER_VERSION``: marketplace/config.py), else ``DEFAULT_VERSION``."""
    return configured or DEFAULT_VERSION


def available_versions() -> list[str]:
    """The hand-made version plus every learned embedder shipped in ``search/weights``."""
    learned = sorted(p.stem for p in WEIGHTS_DIR.glob("*.pt")) if WEIGHTS_DIR.is_dir() else []
    return [HANDMADE_VERSION, *learned, *sorted(set(_REGISTERED) - {HANDMADE_VERSION, *learned})]


def get_embedder(version: str | None = None, device: str = "cpu") -> Embedder:
    """The embedder of ``version`` (default: ``DEFAULT_VERSION``), loaded once per process and device. ``device``: where
    a learned version runs, "cpu", "cuda" or "auto" (``search.learned.embedder_device``)."""
    return _load(version or active_version(), device)


@lru_cache(maxsize=4)
def _load(version: str, device: str) -> Embedder:
    if version in _REGISTERED:
        return _REGISTERED[version]()
    if version == HANDMADE_VERSION:
        return HandmadeEmbedder()
    path = WEIGHTS_DIR / f"{version}.pt"
    if not path.is_file():
        raise ValueError(f"unknown embedder version {version!r}; available: {', '.join(available_versions())}")
    # lazy: search.learned imports torch (seconds): only a process that loads a learned version pays for it
    from .learned import LearnedEmbedder, embedder_device

    return LearnedEmbedder.from_file(path, device=embedder_device(device))


def query_vectors(embedder: Embedder, generated: Sequence[Any], photos: Sequence[Any] | None = None) -> np.ndarray:
    """The search query of each generated (G2) image: the embedder's ``embed_queries`` when it has one (a learned
    version with a ``photo_weight`` fuses G2's output with the preprocessed photo it was made from,
    ``search.learned``), else the embedding of the generated image. Catalogue images always go through
    ``embed_images``."""
    fn = getattr(embedder, "embed_queries", None)
    return fn(list(generated), list(photos) if photos is not None else None) if fn else embedder.embed_images(
        list(generated))

