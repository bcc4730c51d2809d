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

How it is computed (the values are the formula's: `tests/search/test_embedding.py` keeps the plain per-image
formula as the reference and holds this to 1e-6): on a whole stack of images at once, with each colour's HSV bin and
foreground flag read from a table of all 2^24 colours (`_colour_table`, made once per process from `_rgb_to_hsv`, so
exact by construction). The HSV conversion was 40 % of the descriptor's time; a re-index embeds the catalogue in
chunks (measured in bench/bench_reindex.py).

Change anything here and bump `EMBEDDER_VERSION`: the index collection name carries it, so a new descriptor
lands in a new collection and is filled by a re-index.
"""
from __future__ import annotations

import threading
from functools import lru_cache
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
    maxc = np.maximum(np.maximum(r, g), b)
    minc = np.minimum(np.minimum(r, g), b)
    delta = maxc - minc
    sat = np.where(maxc > 0, delta / np.maximum(maxc, 1e-8), 0.0)
    safe = np.maximum(delta, 1e-8)
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    hue = np.where(maxc == r, bc - gc, np.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    hue = np.where(delta > 0, (hue / 6.0) % 1.0, 0.0)
    return np.stack([hue, sat, maxc], -1)


_JOINT_BINS = _HUE_BINS * _SAT_BINS * _VAL_BINS
_FOREGROUND_BIT = 0x80  # _colour_table: bit 7 = foreground, bits 0-6 = joint HSV bin (< _JOINT_BINS = 108)


def _colour_bins(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(joint HSV bin, foreground flag) of RGB [0,1] pixels. Greys (low saturation) get hue bin 0 so that their
    unstable hue does not scatter them over the circle; near-white greys are background."""
    hsv = _rgb_to_hsv(rgb)
    fg = ~((hsv[..., 2] > _WHITE_THRESHOLD) & (hsv[..., 1] < 0.08))
    h = np.minimum((hsv[..., 0] * _HUE_BINS).astype(int), _HUE_BINS - 1)
    s = np.minimum((hsv[..., 1] * _SAT_BINS).astype(int), _SAT_BINS - 1)
    v = np.minimum((hsv[..., 2] * _VAL_BINS).astype(int), _VAL_BINS - 1)
    h = np.where(s == 0, 0, h)
    return (h * _SAT_BINS + s) * _VAL_BINS + v, fg


_table_lock = threading.Lock()


def _colour_table() -> np.ndarray:
    """uint8 [2^24]: `_colour_bins` of every 24-bit colour (index r << 16 | g << 8 | b), packed as joint bin |
    foreground bit. 16 MB, about a second to make, once per process (workers make it at warm-up; a lock keeps
    the re-index's threads from making it twice)."""
    with _table_lock:
        return _make_colour_table()


@lru_cache(maxsize=1)
def _make_colour_table() -> np.ndarray:
    table = np.empty(1 << 24, np.uint8)
    step = 1 << 20
    for start in range(0, 1 << 24, step):
        code = np.arange(start, start + step, dtype=np.uint32)
        rgb = np.stack([code >> 16, (code >> 8) & 255, code & 255], -1).astype(np.float32) / 255.0
        joint, fg = _colour_bins(rgb)
        table[start:start + step] = joint.astype(np.uint8) | (fg.astype(np.uint8) << 7)
    return table


def _unit_rows(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=1, keepdims=True)
    return np.where(n > 0, v / np.where(n > 0, n, 1.0), v)


def _cells(a: np.ndarray, n: int) -> np.ndarray:
    """A stack [N, H, W, ...] split into n x n cells: [N, n, n, H/n, W/n, ...]."""
    b, h, w = a.shape[:3]
    return a.reshape(b, n, h // n, n, w // n, *a.shape[3:]).swapaxes(2, 3)


def _cell_sums(a: np.ndarray, n: int) -> np.ndarray:
    """Per-cell sums of a stack [N, H, W, ...] over an n x n grid: [N, n, n, ...] (no copy, unlike `_cells`)."""
    b, h, w = a.shape[:3]
    return a.reshape(b, n, h // n, n, w // n, *a.shape[3:]).sum((2, 4))


def reduce_image(image: Image.Image) -> Image.Image:
    """The 64 x 64 RGB image the descriptor reads: a stock image's stored thumbnail is exactly this, so embedding
    the thumbnail gives the same vector as embedding the full image (resizing to the same size is a copy)."""
    return image.convert("RGB").resize((_SIZE, _SIZE), Image.BILINEAR)


def embed_image(image: Image.Image) -> np.ndarray:
    """Descriptor of one image: float32 [EMBEDDING_DIM], L2-normalised (cosine similarity = inner product)."""
    return embed_images([image])[0]


def embed_images(images: Sequence[Image.Image]) -> np.ndarray:
    """Descriptors of many images: float32 [N, EMBEDDING_DIM], each row L2-normalised."""
    if not images:
        return np.zeros((0, EMBEDDING_DIM), np.float32)
    return embed_arrays(np.stack([np.asarray(reduce_image(im)) for im in images]))


def embed_arrays(rgb_u8: np.ndarray) -> np.ndarray:
    """Descriptors of a stack of reduced images (uint8 [N, 64, 64, 3], as `reduce_image` makes them)."""
    n = len(rgb_u8)
    code = (rgb_u8[..., 0].astype(np.uint32) << 16) | (rgb_u8[..., 1].astype(np.uint32) << 8) | rgb_u8[..., 2]
    packed = _colour_table()[code]
    fg = packed >= _FOREGROUND_BIT
    fg[fg.sum((1, 2)) < 16] = True  # an all-white image: every pixel counts rather than an empty descriptor
    weight = fg.astype(np.float32)
    rgb = rgb_u8.astype(np.float32) / 255.0

    # Colour identity: joint HSV histogram over the foreground.
    joint = (packed & (_FOREGROUND_BIT - 1)).astype(np.intp) + (np.arange(n) * _JOINT_BINS)[:, None, None]
    hist = np.bincount(joint.ravel(), weights=weight.ravel(), minlength=n * _JOINT_BINS).reshape(n, _JOINT_BINS)
    hsv_block = _unit_rows(np.sqrt(hist / np.maximum(hist.sum(1, keepdims=True), 1e-8)))

    # Colour layout: mean foreground colour per 4 x 4 cell (cells with no foreground are white).
    cell_sum = _cell_sums(weight, 4)[..., None]
    layout = np.where(cell_sum > 0, _cell_sums(rgb * weight[..., None], 4) / np.maximum(cell_sum, 1e-8), 1.0)
    layout_block = _unit_rows(layout.reshape(n, -1) - 0.5)

    # Texture and outline: magnitude-weighted gradient orientations (unsigned, 0..pi) per 2 x 2 cell.
    grey = (rgb[..., 0] + rgb[..., 1] + rgb[..., 2]) / 3.0
    gy, gx = np.gradient(grey, axis=(1, 2))
    mag = np.hypot(gx, gy)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    ob = np.minimum((ang / np.pi * _ORIENT_BINS).astype(np.intp), _ORIENT_BINS - 1)
    cell = (np.arange(n * 4).reshape(n, 2, 2) * _ORIENT_BINS)[:, :, :, None, None]
    grad = np.bincount((_cells(ob, 2) + cell).ravel(), weights=_cells(mag, 2).ravel(),
                       minlength=n * 4 * _ORIENT_BINS).reshape(n, -1)
    gradient_block = _unit_rows(np.sqrt(grad))

    # Silhouette: foreground fraction per 4 x 4 cell.
    shape_block = _unit_rows(_cell_sums(weight, 4).reshape(n, -1) / (weight.shape[1] * weight.shape[2] / 16))

    return _unit_rows(np.concatenate([
        _BLOCK_WEIGHTS["hsv"] * hsv_block,
        _BLOCK_WEIGHTS["layout"] * layout_block,
        _BLOCK_WEIGHTS["gradient"] * gradient_block,
        _BLOCK_WEIGHTS["shape"] * shape_block,
    ], axis=1)).astype(np.float32)
