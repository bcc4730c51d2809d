"""A deterministic, hand-made image descriptor for catalogue search.

Why hand-made: nothing may download pretrained weights here, and a CNN trained only on our procedural data would
mostly learn the generator's quirks. A colour + layout + gradient descriptor is cheap (about 1 ms per image),
identical on every machine, and good at exactly what separates garments in a catalogue: colour, pattern and cut.

The descriptor is computed on the *foreground*: on a stock-style image (garment on white) near-white pixels are
background and ignored, so a G2 output and a catalogue image are compared garment to garment. On a raw street photo
nearly every pixel counts, which is why raw photos retrieve poorly and the GAN helps.

Blocks (each normalised on its own, then weighted, so no block dominates by size):
- hue x saturation x value histogram of the foreground (colour identity), Hellinger (sqrt) normalised;
- a 4 x 4 grid of mean foreground colour (colour layout: colour blocks, sleeves vs body);
- a 2 x 2 grid of 8-bin gradient-orientation histograms (stripes vs checks vs dots, garment outline);
- a 4 x 4 grid of foreground occupancy (the garment's silhouette: cut and sleeve length).

Change anything here and bump `EMBEDDER_VERSION`: the index collection name carries it, so a new descriptor
lands in a new collection and is filled by a re-index.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

EMBEDDER_VERSION = "hcg1"
_SIZE = 64
_HUE_BINS, _SAT_BINS, _VAL_BINS = 12, 3, 3
_ORIENT_BINS = 8
_WHITE_THRESHOLD = 0.92  # value above which, with low saturation, a pixel is background
_BLOCK_WEIGHTS = {"hsv": 1.0, "layout": 0.8, "gradient": 0.8, "shape": 0.5}

EMBEDDING_DIM = (
    _HUE_BINS * _SAT_BINS * _VAL_BINS + 4 * 4 * 3 + 2 * 2 * _ORIENT_BINS + 4 * 4
)


def _rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """Vectorised RGB [0,1] -> HSV [0,1] (hue as a fraction of the circle)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    maxc = rgb.max(-1)
    minc = rgb.min(-1)
    delta = maxc - minc
    sat = np.where(maxc > 0, delta / np.maximum(maxc, 1e-8), 0.0)
    safe = np.maximum(delta, 1e-8)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = np.where(maxc == r, bc - gc, np.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = np.where(delta > 0, (hue / 6.0) % 1.0, 0.0)
    return np.stack([hue, sat, maxc], -1)


def _unit(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def _cells(a: np.ndarray, n: int) -> np.ndarray:
    """Split an HxW(xC) array into n x n cells: returns [n, n, H/n, W/n, ...]."""
    h, w = a.shape[:2]
    return a.reshape(n, h // n, n, w // n, *a.shape[2:]).swapaxes(1, 2)


def embed_image(image: Image.Image) -> np.ndarray:
    """Descriptor of one image: float32 [EMBEDDING_DIM], L2-normalised (cosine similarity = inner product)."""
    rgb = np.asarray(image.convert("RGB").resize((_SIZE, _SIZE), Image.BILINEAR), dtype=np.float32) / 255.0
    hsv = _rgb_to_hsv(rgb)
    fg = ~((hsv[..., 2] > _WHITE_THRESHOLD) & (hsv[..., 1] < 0.08))
    if fg.sum() < 16:  # an all-white image: fall back to every pixel rather than an empty descriptor
        fg = np.ones_like(fg)
    weight = fg.astype(np.float32)

    # Colour identity: joint HSV histogram over the foreground. Greys (low saturation) get hue bin 0 so that their
    # unstable hue does not scatter them over the circle.
    h = np.minimum((hsv[..., 0] * _HUE_BINS).astype(int), _HUE_BINS - 1)
    s = np.minimum((hsv[..., 1] * _SAT_BINS).astype(int), _SAT_BINS - 1)
    v = np.minimum((hsv[..., 2] * _VAL_BINS).astype(int), _VAL_BINS - 1)
    h = np.where(s == 0, 0, h)
    joint = (h * _SAT_BINS + s) * _VAL_BINS + v
    hist = np.bincount(joint.ravel(), weights=weight.ravel(), minlength=_HUE_BINS * _SAT_BINS * _VAL_BINS)
    hsv_block = _unit(np.sqrt(hist / max(hist.sum(), 1e-8)))

    # Colour layout: mean foreground colour per cell (cells with no foreground are white).
    cw = _cells(weight, 4)[..., None]
    crgb = _cells(rgb, 4)
    cell_sum = cw.sum((2, 3))
    layout = np.where(cell_sum > 0, (crgb * cw).sum((2, 3)) / np.maximum(cell_sum, 1e-8), 1.0)
    layout_block = _unit(layout.ravel() - 0.5)

    # Texture and outline: magnitude-weighted gradient orientations (unsigned, 0..pi) per 2 x 2 cell.
    grey = rgb.mean(-1)
    gy, gx = np.gradient(grey)
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    ob = np.minimum((ang / np.pi * _ORIENT_BINS).astype(int), _ORIENT_BINS - 1)
    grad = np.zeros((2, 2, _ORIENT_BINS), np.float32)
    for i, row in enumerate(_cells(ob, 2)):
        for j, cell in enumerate(row):
            grad[i, j] = np.bincount(cell.ravel(), weights=_cells(mag, 2)[i, j].ravel(), minlength=_ORIENT_BINS)
    gradient_block = _unit(np.sqrt(grad.ravel()))

    # Silhouette: foreground fraction per cell.
    shape_block = _unit(_cells(weight, 4).mean((2, 3)).ravel())

    parts = [
        _BLOCK_WEIGHTS["hsv"] * hsv_block,
        _BLOCK_WEIGHTS["layout"] * layout_block,
        _BLOCK_WEIGHTS["gradient"] * gradient_block,
        _BLOCK_WEIGHTS["shape"] * shape_block,
    ]
    return _unit(np.concatenate(parts)).astype(np.float32)


def embed_images(images: Sequence[Image.Image]) -> np.ndarray:
    """Descriptors of many images: float32 [N, EMBEDDING_DIM], each row L2-normalised."""
    if not images:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return np.stack([embed_image(im) for im in images])
