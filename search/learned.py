"""The learned embedder at run time: load a shipped ``search/weights/<version>.pt`` and embed images with it.

A weights file holds the network config, the state dict (fp16 on disk, fp32 in memory), the confidence gate
calibrated on the validation split, the weight ``w`` of the hand-made descriptor mixed in (the vector is
``[sqrt(1 - w) * learned ; sqrt(w) * hand-made]``, so a cosine is ``(1 - w) cos_learned + w cos_hand-made``: the
two fail on different images, and ``w`` is tuned on the validation split), and ``info``: which generator version produced the training queries, the data
fingerprint, the training time and the evaluation it shipped with. ``offline.embedder_training`` writes it.

A weights file may also hold a ``photo_weight`` ``p``: the product's query is then G2's output *and* the preprocessed
photo it was made from, ``unit(e(G2) + p * e(photo))`` (``fuse``; the hand-made part still reads G2's output). G2
gets cut and base colour right but blurs what separates look-alike items (a secondary colour, stripes); the photo
still has them, under a person's pose and light. Catalogue images are embedded as before (``embed_images``), so a
``photo_weight`` changes nothing in the index. ``embed_queries`` is the query side; ``p`` is tuned on val.

Images are squared on white and resized to the network's input size exactly like the training pairs were, so a
stock image from the catalogue and a generated image from G2 go through the same door.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from backbones.images import square_on_white

from . import embedding
from .gate import ConfidenceGate
from .networks import EmbedderConfig, EmbeddingNet

FORMAT = 1


def images_to_tensor(images: Sequence[Any], size: int):
    """PIL images -> float32 Tensor [N, 3, size, size] in [-1, 1]."""
    arrays = np.stack([np.asarray(square_on_white(im, size), dtype=np.uint8) for im in images])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def mix(learned: np.ndarray, handmade: np.ndarray, weight: float) -> np.ndarray:
    """``[sqrt(1 - w) * learned ; sqrt(w) * handmade]`` of unit rows: unit rows whose inner products mix the two
    cosines linearly."""
    if weight <= 0:
        return learned.astype(np.float32)
    return np.concatenate([np.sqrt(1 - weight) * learned, np.sqrt(weight) * handmade], 1).astype(np.float32)


def fuse(generated: np.ndarray, photos: np.ndarray, photo_weight: float) -> np.ndarray:
    """Unit rows of ``generated + photo_weight * photos`` (unit rows in): the query of G2's output and its photo."""
    fused = np.asarray(generated, np.float32) + np.float32(photo_weight) * np.asarray(photos, np.float32)
    norms = np.linalg.norm(fused, axis=1, keepdims=True)
    return (fused / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def save_weights(path: str | os.PathLike, *, version: str, net, gate: ConfidenceGate, info: dict,
                 handmade_weight: float = 0.0, photo_weight: float = 0.0) -> Path:
    """Write a shippable weights file (fp16 tensors: half the size, no measurable retrieval change)."""
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in net.state_dict().items()}
    payload = {"format": FORMAT, "version": version, "config": net.config.to_dict(), "state_dict": state,
               "gate": {"threshold": gate.threshold, "margin": gate.margin, "calibration": gate.calibration},
               "handmade_weight": float(handmade_weight), "photo_weight": float(photo_weight), "info": info}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def embedder_device(device: str = "cpu") -> str:
    """The torch device of ``device``: "cpu" (default: a query at a time, where a GPU buys nothing), "cuda", or "auto"
    (cuda when there is one). A GPU worker that embeds its generated images in batches asks for "auto" (the workers
    pass ``EMBEDDER_DEVICE``: marketplace/config.py)."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


class LearnedEmbedder:
    """A trained ``EmbeddingNet`` behind the ``search.embedders.Embedder`` interface (CPU by default)."""

    def __init__(self, net, version: str, gate: ConfidenceGate, info: dict, device: str = "cpu",
                 handmade_weight: float = 0.0, photo_weight: float = 0.0):
        self.net = net.eval().to(device)
        self.version = version
        self.reads_thumbnail = False  # its network reads a LANCZOS reduction of the original, not the thumbnail
        self.handmade_weight = float(handmade_weight)
        self.photo_weight = float(photo_weight)
        self._handmade = embedding if self.handmade_weight > 0 else None
        self.dim = net.config.dim + (embedding.EMBEDDING_DIM if self._handmade else 0)
        self.input_size = net.config.input_size
        self.gate = gate
        self.info = {**info, "version": version, "kind": "learned", "dim": self.dim, "config": net.config.to_dict(),
                     "handmade_weight": self.handmade_weight, "photo_weight": self.photo_weight}
        self.device = device

    @classmethod
    def from_file(cls, path: str | os.PathLike, device: str = "cpu") -> "LearnedEmbedder":
        payload = torch.load(Path(path), map_location="cpu", weights_only=False)
        if payload.get("format") != FORMAT:
            raise ValueError(f"{path}: unsupported embedder weights format {payload.get('format')!r}")
        net = EmbeddingNet(EmbedderConfig(**payload["config"]))
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
        g = payload["gate"]
        gate = ConfidenceGate(threshold=float(g["threshold"]), margin=float(g.get("margin", 0.0)),
                              calibration=dict(g.get("calibration") or {}))
        return cls(net, str(payload["version"]), gate, dict(payload.get("info") or {}), device=device,
                   handmade_weight=float(payload.get("handmade_weight", 0.0)),
                   photo_weight=float(payload.get("photo_weight", 0.0)))

    def embed_tensor(self, batch) -> np.ndarray:
        with torch.inference_mode():
            return self.net(batch.to(self.device)).float().cpu().numpy().astype(np.float32)

    def _learned(self, images: Sequence[Any], batch_size: int) -> np.ndarray:
        """The network's unit vectors of PIL images, ``batch_size`` at a time."""
        return np.concatenate([self.embed_tensor(images_to_tensor(images[i:i + batch_size], self.input_size))
                               for i in range(0, len(images), batch_size)], 0)

    def embed_images(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        if not len(images):
            return np.zeros((0, self.dim), np.float32)
        learned = self._learned(images, batch_size)
        if self._handmade is None:
            return learned
        return mix(learned, self._handmade.embed_images(list(images)), self.handmade_weight)

    def embed_image(self, image: Any) -> np.ndarray:
        return self.embed_images([image])[0]

    def embed_queries(self, generated: Sequence[Any], photos: Sequence[Any] | None = None,
                      batch_size: int = 64) -> np.ndarray:
        """Query vectors of G2 outputs, each fused with the preprocessed photo it was made from when this version
        has a ``photo_weight`` and ``photos`` are given (one network pass over both); else ``embed_images``."""
        if self.photo_weight <= 0 or photos is None or not len(generated):
            return self.embed_images(generated, batch_size)
        if len(photos) != len(generated):
            raise ValueError(f"{len(generated)} generated images but {len(photos)} photos")
        n = len(generated)
        learned = self._learned([*generated, *photos], batch_size)
        learned = fuse(learned[:n], learned[n:], self.photo_weight)
        if self._handmade is None:
            return learned
        return mix(learned, self._handmade.embed_images(list(generated)), self.handmade_weight)
