"""Inference: a street photo in, a catalogue-style product image out (plus the intermediate stages).

``StockImageGenerator`` wraps the two trained generators. The pipeline per photo is::

    imagegen.preprocess (segment, find the pose, crop to the garment, person on white, size x size)
      -> G1 -> combine(photo, G1 output) -> G2 -> catalogue image

The requested garment type ("top", "bottom", "whole") is what the preprocessor crops to; a model conditioned on it
(``GANConfig.garments``, the "v2" architecture) also gets it as each image's FiLM class, row by row, so one batch
may mix types. An unconditioned (v1) model ignores it, so every caller always passes it.

Models run in eval mode under ``torch.inference_mode()``. mediapipe (the preprocessor's segmentation and pose) is
loaded only on the first ``generate``/``preprocess`` call, so a generator can be built, and ``forward_preprocessed``
used, without it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

from imagegen.checkpoint import CheckpointError, load_checkpoint
from imagegen.networks import GANConfig, build_generators, combine
from imagegen.preprocess import get_preprocessor
from imagegen.tensors import to_pil, to_tensor

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default.pt"


@dataclass
class GenerationResult:
    stock: Image.Image
    """The catalogue-style image (G2's output), RGB, image_size x image_size."""
    stage1: Image.Image
    """G1's output, shown as the intermediate stage."""
    preprocessed: Image.Image
    """What the networks saw: the photo cropped to the garment, person on white."""
    method: str
    """How the preprocessor cropped: "keypoints", "shoulders+mask", "mask_bbox" or "centre"."""
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    """``preprocess``, ``stage1``, ``stage2``, ``total``. In ``generate_batch`` the stage times are the batch's
    divided by its size (the per-image cost in a batch), preprocess is this image's own."""
    model_label: str = ""
    trained: bool = False


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class StockImageGenerator:
    """Two trained generators plus what is known about them (see ``info``). Thread-safe for concurrent calls."""

    def __init__(self, g1: nn.Module, g2: nn.Module, config: GANConfig, *, label: str, trained: bool,
                 step: int = 0, data_fingerprint: str | None = None, metrics: dict[str, float] | None = None,
                 device: str | torch.device | None = None, checkpoint_path: str | None = None):
        self.device = _resolve_device(device)
        self.g1 = g1.to(self.device).eval()
        self.g2 = g2.to(self.device).eval()
        self.config = config
        self.label = label
        self.trained = trained
        self.step = step
        self.data_fingerprint = data_fingerprint
        self.metrics = dict(metrics or {})
        self.checkpoint_path = checkpoint_path
        # PyTorch modules are safe to call concurrently in inference mode, but CPU intra-op threads from several
        # concurrent forwards oversubscribe the cores; one lock keeps latency predictable in a threaded server.
        self._lock = threading.Lock()

    # -- construction ------------------------------------------------------------------------------------------------

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike,
                        device: str | torch.device | None = None) -> "StockImageGenerator":
        """Load a checkpoint written by ``imagegen.checkpoint.save_checkpoint``. Raises ``CheckpointError``."""
        ckpt = load_checkpoint(path)
        g1, g2 = ckpt.build()
        label = ckpt.extra.get("label") or f"{Path(path).stem}-step{ckpt.step}"
        return cls(g1, g2, ckpt.config, label=str(label), trained=True, step=ckpt.step,
                   data_fingerprint=ckpt.data_fingerprint, metrics=ckpt.metrics, device=device,
                   checkpoint_path=str(path))

    @classmethod
    def untrained(cls, image_size: int = 64, seed: int = 0, device: str | torch.device | None = None,
                  arch: str = "v1") -> "StockImageGenerator":
        """Randomly initialised networks (the default architecture, or ``arch``), reproducible from ``seed``.

        Lets the whole pipeline (web app, workers, search index) run end to end before a model is trained. The
        global RNG is left untouched (``fork_rng``), so constructing one never perturbs a caller's seeded run.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            cfg = GANConfig.for_arch(arch, image_size=image_size)
            g1, g2 = build_generators(cfg)
        label = f"untrained-seed{seed}" if arch == "v1" else f"untrained-{arch}-seed{seed}"
        return cls(g1, g2, cfg, label=label, trained=False, device=device)

    @classmethod
    def default(cls, device: str | torch.device | None = None) -> "StockImageGenerator":
        """The shipped model ``imagegen/checkpoints/default.pt`` if present, else ``untrained()``.

        A present-but-broken shipped checkpoint is an error (``CheckpointError``), not a silent fallback: serving
        random images while believing a model is deployed would be worse than failing loudly.
        """
        if DEFAULT_CHECKPOINT.is_file():
            return cls.from_checkpoint(DEFAULT_CHECKPOINT, device=device)
        return cls.untrained(device=device)

    # -- properties --------------------------------------------------------------------------------------------------

    @property
    def image_size(self) -> int:
        return self.config.image_size

    @property
    def garments(self) -> tuple[str, ...]:
        """The garment types the model is conditioned on (empty: unconditioned, the type is only a crop hint)."""
        return self.config.garments

    @property
    def info(self) -> dict[str, Any]:
        return {"label": self.label, "trained": self.trained, "image_size": self.image_size, "step": self.step,
                "data_fingerprint": self.data_fingerprint, "metrics": dict(self.metrics)}

    # -- inference ---------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def forward_preprocessed(self, photos: torch.Tensor, garments: Sequence[str] | str | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor]:
        """G1 and G2 on preprocessed photos ``[N, 3, S, S]`` in [-1, 1]; returns float32 CPU tensors ``(g1, g2)``.

        ``garments``: the requested type, one for all or one per photo; required by a conditioned model (a
        ``ValueError`` otherwise), ignored by an unconditioned one."""
        if photos.dim() == 3:
            photos = photos.unsqueeze(0)
        s = self.image_size
        if photos.dim() != 4 or tuple(photos.shape[1:]) != (3, s, s):
            raise ValueError(f"expected photos of shape [N, 3, {s}, {s}], got {tuple(photos.shape)}")
        garment = self.config.garment_indices(garments, photos.shape[0], self.device)
        with self._lock:
            x = photos.to(self.device, torch.float32)
            g1 = self.g1(x, garment)
            g2 = self.g2(combine(x, g1), garment)
        return g1.float().cpu(), g2.float().cpu()

    def _preprocess(self, image: Any, garment: str):
        preprocessor = get_preprocessor(self.image_size)  # first call loads mediapipe: not per-image cost
        t0 = time.perf_counter()
        pre = preprocessor(image, garment)
        return pre, (time.perf_counter() - t0) * 1000

    def _stages(self, photos: torch.Tensor, garments: Sequence[str] | str | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, float, float]:
        """Like forward_preprocessed, but timing each stage (synchronising CUDA so the numbers are real)."""
        def now() -> float:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return time.perf_counter()

        garment = self.config.garment_indices(garments, photos.shape[0], self.device)
        with self._lock, torch.inference_mode():
            x = photos.to(self.device, torch.float32)
            t0 = now()
            g1 = self.g1(x, garment)
            t1 = now()
            g2 = self.g2(combine(x, g1), garment)
            t2 = now()
        return g1.float().cpu(), g2.float().cpu(), (t1 - t0) * 1000, (t2 - t1) * 1000

    def generate(self, image: Any, garment: str = "top") -> GenerationResult:
        """One photo (PIL; the preprocessor also takes bytes or a path) -> ``GenerationResult``.

        Raises ``imagegen.images.ImageInputError`` for unusable input (from the preprocessor).
        """
        return self.generate_batch([image], [garment])[0]

    def generate_batch(self, images: Sequence[Any], garments: Sequence[str] | str = "top") -> list[GenerationResult]:
        """Several photos: preprocessed one by one, then G1/G2 in one batch (cheaper per image on a GPU)."""
        if isinstance(garments, str):
            garments = [garments] * len(images)
        if len(garments) != len(images):
            raise ValueError(f"{len(images)} images but {len(garments)} garments")
        if not images:
            return []
        t_start = time.perf_counter()
        pres, pre_ms = [], []
        for image, garment in zip(images, garments):
            pre, ms = self._preprocess(image, garment)
            pres.append(pre)
            pre_ms.append(ms)
        return self.generate_preprocessed(pres, pre_ms, t_start=t_start, garments=garments)

    def preprocess(self, image: Any, garment: str = "top"):
        """Step one alone (mediapipe, CPU): ``(PreprocessResult, ms)``. A worker that batches the generators runs
        it per photo, so that one unusable photo fails alone, or in separate CPU processes that feed one GPU worker.
        Raises ``imagegen.images.ImageInputError`` for unusable input."""
        return self._preprocess(image, garment)

    def generate_preprocessed(self, pres: Sequence[Any], pre_ms: Sequence[float] | None = None, *,
                              t_start: float | None = None, garments: Sequence[str] | str | None = None
                              ) -> list[GenerationResult]:
        """G1/G2 on already preprocessed photos (objects with ``image``, ``method``, ``warnings``: a
        ``PreprocessResult``) as one batch on the model's device; ``pre_ms`` are their preprocessing times.

        ``garments``: each photo's requested type (or one for all), the type it was preprocessed for; a
        conditioned model needs it (``ValueError`` without it), an unconditioned one ignores it."""
        if not pres:
            return []
        t_start = time.perf_counter() if t_start is None else t_start
        pre_ms = list(pre_ms) if pre_ms is not None else [0.0] * len(pres)
        photos = torch.stack([to_tensor(p.image, self.image_size) for p in pres])
        g1, g2, ms1, ms2 = self._stages(photos, garments)
        n = len(pres)
        batch_ms = (time.perf_counter() - t_start) * 1000
        results = []
        for i, pre in enumerate(pres):
            timings = {"preprocess": pre_ms[i], "stage1": ms1 / n, "stage2": ms2 / n,
                       "total": batch_ms if n == 1 else pre_ms[i] + (ms1 + ms2) / n}
            results.append(GenerationResult(
                stock=to_pil(g2[i]), stage1=to_pil(g1[i]), preprocessed=pre.image.convert("RGB"), method=pre.method,
                warnings=list(pre.warnings), timings_ms={k: round(v, 2) for k, v in timings.items()},
                model_label=self.label, trained=self.trained))
        return results

    def __repr__(self) -> str:
        return f"StockImageGenerator({self.label!r}, image_size={self.image_size}, device={self.device})"


__all__ = ["DEFAULT_CHECKPOINT", "CheckpointError", "GenerationResult", "StockImageGenerator"]
