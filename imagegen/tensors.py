"""Image tensors (docs/CONTRACTS.md): float32 ``[3, H, W]`` in ``[-1, 1]``, RGB, to and from PIL images and uint8
arrays. The torch side of ``imagegen.images``: loading and checking an image there never imports torch, and whatever
turns images into tensors imports this module.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from imagegen.images import to_rgb

__all__ = ["tensor_to_uint8", "to_pil", "to_tensor", "uint8_to_tensor"]


def to_tensor(pil: Image.Image, size: int | tuple[int, int] | None = None) -> torch.Tensor:
    """PIL image -> float32 tensor ``[3, H, W]`` in ``[-1, 1]`` (RGB).

    ``size`` (int for a square, or ``(width, height)``) resizes with LANCZOS first. It does
    not preserve aspect ratio: square crops come from ``imagegen.preprocess``.
    """
    if pil.mode != "RGB":
        pil = to_rgb(pil)
    if size is not None:
        wh = (size, size) if isinstance(size, int) else tuple(size)
        if pil.size != wh:
            pil = pil.resize(wh, Image.Resampling.LANCZOS)
    arr = np.asarray(pil, dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).to(torch.float32)
    return t.div_(127.5).sub_(1.0)


def to_pil(tensor: torch.Tensor) -> Image.Image:
    """Tensor ``[3, H, W]`` (or ``[1, 3, H, W]``, or 1 channel) in ``[-1, 1]`` -> RGB PIL image.

    Values are clamped, so raw generator output can be passed directly.
    """
    t = tensor.detach()
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError(f"to_pil takes one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.dim() != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected a [3, H, W] or [1, H, W] tensor, got shape {tuple(tensor.shape)}")
    t = t.to("cpu", dtype=torch.float32).clamp(-1.0, 1.0)
    arr = ((t + 1.0) * 127.5).round().to(dtype=torch.uint8).permute(1, 2, 0).numpy()
    if arr.shape[2] == 1:
        return Image.fromarray(arr[:, :, 0], mode="L").convert("RGB")
    return Image.fromarray(arr, mode="RGB")


def uint8_to_tensor(array: np.ndarray) -> torch.Tensor:
    """uint8 [H, W, 3] -> float32 Tensor [3, H, W] in [-1, 1] (the contract's image tensors)."""
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def tensor_to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """Tensor [3, H, W] in [-1, 1] -> uint8 [H, W, 3] (clamped, rounded)."""
    t = tensor.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
    return t.permute(1, 2, 0).numpy().astype(np.uint8)
