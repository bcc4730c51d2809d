"""The flat garment: fabric texture, the painted canvas (panels, neckline, trims) and the stock image made from it.

Every garment is painted onto a flat ``CANVAS`` x ``CANVAS`` "sewing pattern" (pattern texture + silhouette alpha + a
part-id map saying which panel each pixel belongs to, the layouts of ``garments.py``). The stock image is that canvas
cropped and scaled onto white; the street photo warps the very same canvas panels onto the body (``fitting.py``).

Fabric: a fine grain on every canvas; a data version with ``woven`` (versions.py) also multiplies a twill weave and
thread irregularity in, so stock and photo show the same cloth. Folds are drawn on the worn garment (``fitting.py``).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, replace
from functools import lru_cache

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import garments as G
from .garments import (
    CANVAS, CANVAS_HEAD, DRESS_WAIST, K, WHOLE_HEAD, ItemSpec, Segment, segments_for, top_to_whole, whole_y,
)
from .versions import data_version as version_of


# ----------------------------------------------------------------------------------------
# Pattern texture (full canvas).

def _motif_mask(kind: str, cx: float, cy: float, r: float, n: int = CANVAS) -> np.ndarray:
    img = Image.new("L", (n, n), 0)
    d = ImageDraw.Draw(img)
    if kind == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        d.ellipse([cx - r * 0.55, cy - r * 0.55, cx + r * 0.55, cy + r * 0.55], fill=0)
    elif kind == "diamond":
        d.polygon([(cx, cy - r), (cx + r * 0.8, cy), (cx, cy + r), (cx - r * 0.8, cy)], fill=255)
    elif kind == "heart":
        rr = r * 0.52
        d.ellipse([cx - 2 * rr, cy - r * 0.6 - rr * 0.2, cx, cy - r * 0.6 + 2 * rr - rr * 0.2], fill=255)
        d.ellipse([cx, cy - r * 0.6 - rr * 0.2, cx + 2 * rr, cy - r * 0.6 + 2 * rr - rr * 0.2], fill=255)
        d.polygon([(cx - 2 * rr + 1, cy - r * 0.05), (cx + 2 * rr - 1, cy - r * 0.05), (cx, cy + r)], fill=255)
    else:  # star
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.42
            a = -math.pi / 2 + k * math.pi / 5
            pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
        d.polygon(pts, fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def _secondary_weight(spec: ItemSpec, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """Where a top's or bottom's pattern shows its second colour (0..1 per canvas pixel)."""
    n = CANVAS
    s = spec.pattern_scale
    w = np.zeros((n, n), np.float32)  # solid
    if spec.pattern == "stripes":
        period = 40.0 * s
        coord = xx if spec.pattern_variant == 3 else yy  # one in four is vertical
        duty = 0.35 + 0.1 * (spec.pattern_variant % 2)
        ph = (coord / period) % 1.0
        w = (np.abs(ph - 0.5) < duty / 2).astype(np.float32)
    elif spec.pattern == "checks":
        cell = 44.0 * s
        a = ((xx / cell) % 1.0) < 0.5
        b = ((yy / cell) % 1.0) < 0.5
        if spec.pattern_variant % 2:  # gingham: overlaps darker
            w = 0.5 * a + 0.5 * b
        else:                         # buffalo / chequerboard
            w = (a ^ b).astype(np.float32)
    elif spec.pattern == "dots":
        sp = 44.0 * s
        r = sp * (0.2 + 0.05 * spec.pattern_variant)
        row = np.floor(yy / sp)
        xs = xx + (row % 2) * sp / 2
        dx = (xs % sp) - sp / 2
        dy = (yy % sp) - sp / 2
        w = np.clip(r + 0.5 - np.sqrt(dx * dx + dy * dy), 0, 1)
    elif spec.pattern == "motif":
        if spec.garment == "top":
            cx, cy, r = 320.0, 150 + 1.05 * CANVAS_HEAD, 62.0 * s
        else:  # on the wearer's left thigh (image right)
            cx, cy, r = 320 + 0.5 * CANVAS_HEAD, 60 + 1.45 * CANVAS_HEAD, 34.0 * s
        w = _motif_mask(spec.motif, cx, cy, r)
    elif spec.pattern == "colour blocks":
        v = spec.pattern_variant
        if spec.garment == "top":
            if v == 0:   # chest band
                w = ((yy > 150 + 0.55 * CANVAS_HEAD) & (yy < 150 + 1.35 * CANVAS_HEAD)).astype(np.float32)
            elif v == 1:  # bottom half
                w = (yy > 150 + 1.45 * CANVAS_HEAD).astype(np.float32)
            elif v == 2:  # left / right halves
                w = (xx > 320).astype(np.float32)
            else:        # yoke and sleeves in the second colour
                w = ((yy < 150 + 0.7 * CANVAS_HEAD) | (np.abs(xx - 320) > 125)).astype(np.float32)
        else:
            if v in (0, 1):  # side stripes down the legs (track pants)
                w = np.zeros((n, n), np.float32)
                for side in (-1, 1):
                    x0 = 320 + side * (0.46 * CANVAS_HEAD + 0.4 * CANVAS_HEAD)
                    w = np.maximum(w, (np.abs(xx - x0 - side * (yy - 120) * 0.02) < 14).astype(np.float32))
            elif v == 2:
                w = (xx > 320).astype(np.float32)
            else:
                w = (yy > 60 + 1.9 * CANVAS_HEAD).astype(np.float32)
    return w


def _whole_secondary_weight(spec: ItemSpec, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A whole garment's motif or colour blocks, placed for a body from shoulders to knees or ankles."""
    if spec.pattern == "motif":
        cx, cy = top_to_whole(320, 150 + 1.05 * CANVAS_HEAD)
        return _motif_mask(spec.motif, cx, cy, 62.0 * spec.pattern_scale * K)
    v = spec.pattern_variant
    if v == 0:    # chest band
        w = ((yy > top_to_whole(0, 150 + 0.55 * CANVAS_HEAD)[1]) & (yy < top_to_whole(0, 150 + 1.35 * CANVAS_HEAD)[1]))
    elif v == 1:  # everything below the waist in the second colour
        w = yy > whole_y(DRESS_WAIST)
    elif v == 2:  # left / right halves
        w = xx > 320
    else:         # yoke and sleeves
        w = (yy < top_to_whole(0, 150 + 0.7 * CANVAS_HEAD)[1]) | ((np.abs(xx - 320) > 125 * K) & (yy < whole_y(3.0)))
    return w.astype(np.float32)


def pattern_texture(spec: ItemSpec) -> np.ndarray:
    """The fabric, float32 [CANVAS, CANVAS, 3] in 0..1, before cutting out the silhouette.

    A whole garment's periodic patterns are a top's with the period scaled by ``K``, so a stripe is as wide on a dress
    as on a T-shirt of the same spec; its motif and colour blocks are placed for the whole body."""
    if spec.garment == "whole" and spec.pattern not in ("motif", "colour blocks"):
        return pattern_texture(replace(spec, garment="top", pattern_scale=spec.pattern_scale * K))
    n = CANVAS
    base = np.asarray(spec.rgb, np.float32) / 255.0
    sec = np.asarray(spec.secondary_rgb, np.float32) / 255.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    w = (_whole_secondary_weight if spec.garment == "whole" else _secondary_weight)(spec, yy, xx)
    tex = base[None, None, :] * (1 - w[..., None]) + sec[None, None, :] * w[..., None]
    # A little fabric grain so flat colours are not perfectly synthetic.
    grain = np.random.default_rng(zlib.crc32(spec.item_id.encode())).normal(0, 0.008, (n // 4, n // 4))
    grain = np.kron(grain, np.ones((4, 4), np.float32))[:n, :n].astype(np.float32)
    return np.clip(tex + grain[..., None], 0, 1).astype(np.float32)


def weave(item_id: str, n: int = CANVAS) -> np.ndarray:
    """Multiplicative cloth texture around 1.0: a fine twill (diagonal ribs), thread thickness irregularity along
    warp and weft, and a little slub noise. Seeded by the item, so stock and photo show the same cloth."""
    rng = np.random.default_rng(zlib.crc32(("weave" + item_id).encode()))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    period = float(rng.uniform(3.5, 6.0))
    direction = 1.0 if rng.random() < 0.5 else -1.0
    twill = np.sin(2 * math.pi * (xx + direction * yy) / period)
    warp = rng.normal(0, 1, n).astype(np.float32)
    weft = rng.normal(0, 1, n).astype(np.float32)
    warp = np.convolve(warp, np.ones(3) / 3, mode="same").astype(np.float32)
    weft = np.convolve(weft, np.ones(3) / 3, mode="same").astype(np.float32)
    slub = cv2.resize(rng.normal(0, 1, (n // 16, n // 16)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    amp = float(rng.uniform(0.025, 0.045))
    return (1 + amp * twill + 0.018 * warp[None, :] + 0.018 * weft[:, None] + 0.015 * slub).astype(np.float32)


# ----------------------------------------------------------------------------------------
# The canvas: silhouette, panels and trims.

@dataclass
class Canvas:
    """A garment laid flat: fabric colour, silhouette alpha and the panel each pixel belongs to."""
    rgb: np.ndarray     # uint8 [N, N, 3] (fabric with details; uint8 keeps the per-process cache small)
    alpha: np.ndarray   # uint8 [N, N] 0..255
    part: np.ndarray    # uint8 [N, N] part id
    segments: dict      # part id -> (Segment, coverage)
    _levels: dict = field(default_factory=dict, repr=False)

    def level(self, k: int):
        """(rgb, alpha) shrunk k times: photos sample this to avoid aliasing fine patterns."""
        if k == 1:
            return self.rgb, self.alpha
        if k not in self._levels:
            n = CANVAS // k
            self._levels[k] = (cv2.resize(self.rgb, (n, n), interpolation=cv2.INTER_AREA),
                               cv2.resize(self.alpha, (n, n), interpolation=cv2.INTER_AREA))
        return self._levels[k]


class _Draw:
    """PIL drawing on a part-id map and a trim map (the darker ribbing / seams / hems drawn into the fabric)."""

    def __init__(self):
        self.part_img = Image.new("L", (CANVAS, CANVAS), 0)
        self.trim_img = Image.new("L", (CANVAS, CANVAS), 0)
        self.part = ImageDraw.Draw(self.part_img)
        self.trim = ImageDraw.Draw(self.trim_img)


def _flat(x, y):
    """The top layout's own coordinates (``garments.top_to_whole`` maps them onto a whole garment's canvas)."""
    return x, y


def _neck_hole(draw: ImageDraw.ImageDraw, spec: ItemSpec, fill: int, f=_flat, k=1):
    """Cut (or mark) the neck opening of a top, or of a whole garment's bodice with ``f`` and ``k`` = ``K``.
    Returns the V-neck's corners or the crew neck's box."""
    cx, cy = f(320, 150)
    if spec.cut == "tank":
        draw.ellipse([cx - 78, cy - 70, cx + 78, cy + 95], fill=fill)
        return None
    if spec.neckline == "v-neck":
        hole = [(cx - 44 * k, cy - 30 * k), (cx + 44 * k, cy - 30 * k), (cx, cy + 100 * k)]
        draw.polygon(hole, fill=fill)
        return hole
    box = [cx - 46 * k, cy - 30 * k, cx + 46 * k, cy + 30 * k]
    draw.ellipse(box, fill=fill)
    return box


def _shoulder_seams(d: _Draw, f=_flat) -> None:
    """Sloped shoulders (no square corners at the top of a torso panel)."""
    for side in (-1, 1):
        d.part.polygon([f(320 + side * 58, 0), f(320 + side * 58, 148), f(320 + side * 140, 174),
                        f(320 + side * 330, 236), f(320 + side * 330, 0)], fill=0)


def _sleeve_hems(d: _Draw, segs: dict, short_sleeves: bool) -> None:
    """A hem band at the end of each sleeve: the lower sleeve's, or the upper's when the sleeve ends there."""
    for pid in (G.R_UPPER, G.L_UPPER, G.R_LOWER, G.L_LOWER):
        if pid in segs and (pid in (G.R_LOWER, G.L_LOWER) or short_sleeves):
            seg, cover = segs[pid]
            d.trim.polygon(seg.polygon(cover - 0.09, cover), fill=170)


def _panels(d: _Draw, spec: ItemSpec, segs: dict) -> None:
    """A top's or bottom's panels: torso / pelvis first, limbs over them (limbs are drawn in front on the body too)."""
    for pid in sorted(segs):
        seg, cover = segs[pid]
        d.part.polygon(seg.polygon(0.0, cover), fill=pid)
        if pid == G.TORSO and spec.cut == "tank":
            # Tank: narrow shoulder straps, deep armholes.
            d.part.polygon(seg.polygon(0.0, 1.0), fill=pid)
            for side in (-1, 1):
                d.part.ellipse([320 + side * 150 - 58, 120, 320 + side * 150 + 58, 150 + 0.95 * CANVAS_HEAD], fill=0)


def _draw_top(d: _Draw, spec: ItemSpec, segs: dict) -> None:
    _panels(d, spec, segs)
    _shoulder_seams(d)
    if spec.cut == "hoodie":  # hood lying behind the neck
        d.part.ellipse([320 - 92, 150 - 70, 320 + 92, 150 + 52], fill=G.TORSO)
    _neck_hole(d.part, spec, 0)
    if spec.cut != "tank":  # neck ribbing
        tmp = Image.new("L", (CANVAS, CANVAS), 0)
        _neck_hole(ImageDraw.Draw(tmp), spec, 255)
        grown = cv2.dilate(np.asarray(tmp), np.ones((15, 15), np.uint8))
        d.trim.bitmap((0, 0), Image.fromarray(((grown > 0) & (np.asarray(tmp) == 0)).astype(np.uint8) * 255), fill=255)
    d.trim.polygon(segs[G.TORSO][0].polygon(0.955, 1.0), fill=160)  # hem band
    _sleeve_hems(d, segs, short_sleeves=spec.cut == "t-shirt")
    if spec.cut == "hoodie":  # kangaroo pocket and drawstrings
        y0 = 150 + 1.75 * CANVAS_HEAD
        d.trim.line([(320 - 80, y0), (320 + 80, y0), (320 + 110, y0 + 95), (320 - 110, y0 + 95), (320 - 80, y0)],
                    fill=200, width=4)
        for side in (-1, 1):
            d.trim.line([(320 + side * 24, 175), (320 + side * 28, 270)], fill=255, width=5)


def _draw_bottom(d: _Draw, spec: ItemSpec, segs: dict) -> None:
    _panels(d, spec, segs)
    d.trim.polygon(segs[G.PELVIS][0].polygon(0.0, 0.2), fill=150)  # waistband
    d.trim.line([(320, 60 + 30), (320, 60 + 0.6 * CANVAS_HEAD)], fill=140, width=3)  # fly
    for side in (-1, 1):
        d.trim.arc([320 + side * 70 - 50, 60 - 10, 320 + side * 70 + 50, 60 + 90], 0 if side > 0 else 90,
                   90 if side > 0 else 180, fill=200, width=3)
    for pid in (G.R_SHIN, G.L_SHIN, G.R_THIGH, G.L_THIGH):
        if pid in segs and (pid in (G.R_SHIN, G.L_SHIN) or spec.cut == "shorts"):
            seg, cover = segs[pid]
            d.trim.polygon(seg.polygon(cover - 0.06, cover), fill=120)


def _skirt_panel(d: _Draw, seg: Segment, waistband: bool) -> None:
    """A flared panel whose hem is an arc (an A-line skirt seen from the front), a waistband and a hem line."""
    d.part.polygon(seg.polygon(0.0, 0.97), fill=G.SKIRT)
    (_, ay), (bx, by) = seg.a, seg.b
    half = seg.w1 / 2
    d.part.ellipse([bx - half, by - 0.09 * (by - ay), bx + half, by + 0.05 * (by - ay)], fill=G.SKIRT)
    if waistband:
        d.trim.polygon(seg.polygon(0.0, 0.07), fill=150)
    d.trim.arc([bx - half + 3, by - 0.09 * (by - ay) + 3, bx + half - 3, by + 0.05 * (by - ay) - 3], 10, 170,
               fill=120, width=6)


def _draw_skirt(d: _Draw, segs: dict) -> None:
    _skirt_panel(d, segs[G.SKIRT][0], waistband=True)
    d.trim.line([(320 - 40, 60 + 30), (320 - 40, 60 + 0.9 * CANVAS_HEAD)], fill=110, width=3)  # side zip seam


def _draw_whole(d: _Draw, spec: ItemSpec, segs: dict) -> None:
    """A dress (skirt panel) or jumpsuit (trouser legs), then the bodice and sleeves over it: the T-shirt cut mapped
    onto the whole-garment canvas, and a waist seam (dress) or belt (jumpsuit)."""
    if spec.cut == "dress":
        _skirt_panel(d, segs[G.SKIRT][0], waistband=False)
    else:  # jumpsuit: trouser legs first, bodice over them
        for pid in (G.PELVIS, G.R_THIGH, G.R_SHIN, G.L_THIGH, G.L_SHIN):
            seg, cover = segs[pid]
            d.part.polygon(seg.polygon(0.0, cover), fill=pid)
        for pid in (G.R_SHIN, G.L_SHIN):
            seg, cover = segs[pid]
            d.trim.polygon(seg.polygon(cover - 0.05, cover), fill=120)
    for pid in (G.TORSO, G.R_UPPER, G.L_UPPER):
        seg, cover = segs[pid]
        d.part.polygon(seg.polygon(0.0, cover), fill=pid)
    _shoulder_seams(d, top_to_whole)
    hole = _neck_hole(d.part, spec, 0, top_to_whole, K)
    if spec.neckline == "v-neck":
        d.trim.line(hole[:2][::-1] + [hole[2], hole[0]], fill=255, width=int(9 * K))
    else:
        d.trim.ellipse([hole[0] - 6, hole[1] - 6, hole[2] + 6, hole[3] + 6], outline=255, width=int(9 * K))
    _sleeve_hems(d, segs, short_sleeves=True)
    waist = whole_y(DRESS_WAIST)
    half = 0.9 * WHOLE_HEAD
    belt = 3 if spec.cut == "dress" else 9
    d.trim.rectangle([320 - half, waist - belt, 320 + half, waist + belt], fill=140 if spec.cut == "dress" else 200)


def build_canvas(spec: ItemSpec) -> Canvas:
    """Paint the flat garment: panels, neckline, trims (ribbing, seams, hems, pockets), and the weave if woven."""
    segs = segments_for(spec)
    d = _Draw()
    one_piece = spec.garment == "whole" or spec.cut == "skirt"
    if spec.garment == "whole":
        _draw_whole(d, spec, segs)
    elif spec.cut == "skirt":
        _draw_skirt(d, segs)
    elif spec.garment == "top":
        _draw_top(d, spec, segs)
    else:
        _draw_bottom(d, spec, segs)
    part = np.asarray(d.part_img, dtype=np.uint8).copy()
    alpha = (part > 0).astype(np.float32)
    trim = np.asarray(d.trim_img, np.float32)[..., None] / 255.0
    rgb = pattern_texture(spec) * (1 - 0.3 * trim)
    if spec.cut == "hoodie":  # white drawstrings
        rgb = np.where((np.asarray(d.trim_img) == 255)[..., None], np.float32(0.92), rgb)
    woven = version_of(spec.data_version).woven
    if woven and one_piece:
        rgb = rgb * weave(spec.item_id)[..., None]
    rgb8 = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    if woven and not one_piece:  # a top or bottom is woven after its 8-bit canvas is made (as the v2 data was)
        rgb8 = (np.clip(rgb8.astype(np.float32) * weave(spec.item_id)[..., None], 0, 255) + 0.5).astype(np.uint8)
    return Canvas(rgb=rgb8, alpha=(alpha * 255).astype(np.uint8), part=part, segments=segs)


@lru_cache(maxsize=48)
def canvas_for(spec: ItemSpec) -> Canvas:
    """Per-process cache: a worker renders several photos of one item from one canvas."""
    return build_canvas(spec)


def render_stock(spec: ItemSpec, size: int = 256) -> Image.Image:
    """The catalogue photo: the garment laid flat, centred on pure white, evenly lit."""
    cv = canvas_for(spec)
    a = cv.alpha.astype(np.float32) / 255.0
    # Soft outline + very mild "fabric thickness" shading so it reads as an object, not a sticker.
    a8 = (a > 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(a8, cv2.DIST_L2, 3)
    shade = 0.9 + 0.1 * np.clip(dist / 14.0, 0, 1)
    edge = cv2.GaussianBlur(a, (0, 0), 1.0)
    rgb = cv.rgb.astype(np.float32) / 255.0 * shade[..., None]
    img = rgb * edge[..., None] + (1 - edge[..., None])
    ys, xs = np.nonzero(a8)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    side = int(max(x1 - x0, y1 - y0) * 1.16)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    out = np.ones((side, side, 3), np.float32)
    sx0, sy0 = cx - side // 2, cy - side // 2
    src = img[max(sy0, 0):sy0 + side, max(sx0, 0):sx0 + side]
    oy, ox = max(sy0, 0) - sy0, max(sx0, 0) - sx0
    out[oy:oy + src.shape[0], ox:ox + src.shape[1]] = src
    out8 = (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Image.fromarray(out8, "RGB").resize((size, size), Image.LANCZOS)
