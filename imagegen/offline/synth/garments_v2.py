"""Procedural data v2 catalogue: dresses and jumpsuits (``whole``), skirts, and fabric that reads as fabric.

Why a separate module: the shipped generator and embedder were trained on v1 (``garments.py``), whose output must stay
byte-identical until a generator trained on v2 ships. v2 items carry ``data_version=2``; ``garments.make_item`` and
``garments.canvas_for`` dispatch here for them, so ``render_stock`` and the street-photo renderer work unchanged.

Canvas layouts. Tops and bottoms keep the v1 layouts (``top_segments`` / ``bottom_segments``, ``CANVAS_HEAD`` canvas
pixels per head); a skirt is one flared ``SKIRT`` panel in the bottom layout. A whole garment spans shoulders to
ankles, which does not fit a 640 px canvas at 130 px per head, so it is laid out at ``WHOLE_HEAD`` px per head: the
v1 top layout and bottom layout are scaled by ``K = WHOLE_HEAD / CANVAS_HEAD`` and stacked (``_T`` and ``_B`` map
their coordinates), the bottom layout's waist landing at body height ``BODY_WAIST_Y`` head units below the crown.
Pattern periods are scaled by ``K`` too, so a stripe is as wide on a dress as on a T-shirt of the same spec.

Fabric: a fine twill weave and thread irregularity are multiplied into every v2 canvas (stock and photo show the same
cloth); folds and drape are drawn on the worn garment by ``person_v2``.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import replace

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import garments as G

BOTTOM_CUTS = ("trousers", "shorts", "skirt")
WHOLE_CUTS = ("dress", "jumpsuit")
GARMENT_CUTS = {"top": G.TOP_CUTS, "bottom": BOTTOM_CUTS, "whole": WHOLE_CUTS}
ALL_CUTS = G.TOP_CUTS + BOTTOM_CUTS + WHOLE_CUTS

SKIRT = 11  # part id of a skirt panel (skirt, or a dress below the waist)

WHOLE_HEAD = 100.0
K = WHOLE_HEAD / G.CANVAS_HEAD
WHOLE_TOP_Y = 20.0          # canvas y of the top of the shoulders (body 1.18 head units below the crown)
BODY_TORSO_TOP = 1.18       # where the v1 torso panel starts on the body, in head units from the crown
BODY_WAIST_Y = 3.45         # where the v1 bottom layout's waistband (y = 60) sits on the body
DRESS_WAIST = 3.2           # dress bodice ends / skirt starts (head units)
DRESS_HEM = 6.0             # knee length (knees are at 5.65)
SKIRT_HEM = 5.85
JUMPSUIT_TORSO_END = 3.7


def _T(x: float, y: float) -> tuple[float, float]:
    """v1 top-layout canvas point -> whole-garment canvas point."""
    return 320 + (x - 320) * K, WHOLE_TOP_Y + (y - 150) * K


def _B(x: float, y: float) -> tuple[float, float]:
    """v1 bottom-layout canvas point -> whole-garment canvas point."""
    return 320 + (x - 320) * K, WHOLE_TOP_Y + (BODY_WAIST_Y - BODY_TORSO_TOP) * WHOLE_HEAD + (y - 60) * K


def _body_y(y_head: float) -> float:
    """Body height (head units from the crown) -> whole-garment canvas y."""
    return WHOLE_TOP_Y + (y_head - BODY_TORSO_TOP) * WHOLE_HEAD


def _scaled(seg: G.Segment, f) -> G.Segment:
    return G.Segment(f(*seg.a), f(*seg.b), seg.w0 * K, seg.w1 * K)


# ------------------------------------------------------------------------------------------------------- the catalogue


def make_item_v2(seed: int, index: int) -> G.ItemSpec:
    """Item ``index`` of v2 dataset ``seed``: tops, bottoms (trousers, shorts, skirts) and whole garments."""
    rng = np.random.default_rng([int(seed), int(index), 0x17E4])
    garment = str(rng.choice(["top", "bottom", "whole"], p=[0.42, 0.3, 0.28]))
    if garment == "top":
        cut = str(rng.choice(G.TOP_CUTS, p=[0.36, 0.24, 0.16, 0.24]))
    elif garment == "bottom":
        cut = str(rng.choice(BOTTOM_CUTS, p=[0.4, 0.25, 0.35]))
    else:
        cut = str(rng.choice(WHOLE_CUTS, p=[0.62, 0.38]))
    colour = str(rng.choice(list(G.PALETTE)))
    pattern = str(rng.choice(G.PATTERNS, p=G.PATTERN_WEIGHTS))
    secondary = G._contrasting(rng, colour)
    if cut in ("t-shirt", "long sleeve", "dress", "jumpsuit"):
        neckline = str(rng.choice(G.NECKLINES[:2], p=[0.6, 0.4]))
    elif garment == "top":
        neckline = "crew" if cut == "hoodie" else "none"
    else:
        neckline = "none"
    variant = int(rng.integers(0, 4))
    motif = str(rng.choice(G.MOTIFS)) if pattern == "motif" else ""
    return G.ItemSpec(
        item_id=f"{index:06d}", garment=garment, cut=cut, colour=colour,
        rgb=G._jitter_shade(G.PALETTE[colour], rng), pattern=pattern, secondary=secondary,
        secondary_rgb=G._jitter_shade(G.PALETTE[secondary], rng), neckline=neckline,
        pattern_scale=float(np.round(rng.uniform(0.75, 1.35), 3)), pattern_variant=variant, motif=motif,
        data_version=2)


# ---------------------------------------------------------------------------------------------------------- layouts


def skirt_segments() -> dict[int, tuple[G.Segment, float]]:
    """A flared knee-length skirt in the v1 bottom layout (waist at y = 60)."""
    h = G.CANVAS_HEAD
    length = (SKIRT_HEM - BODY_WAIST_Y) * h
    return {SKIRT: (G.Segment((320, 60), (320, 60 + length), 1.6 * h, 2.55 * h), 1.0)}


def whole_segments(cut: str) -> dict[int, tuple[G.Segment, float]]:
    """Panels of a dress (bodice, short sleeves, flared skirt) or a jumpsuit (bodice, sleeves, trouser legs)."""
    segs = {}
    for pid, (seg, cover) in G.top_segments("t-shirt").items():
        segs[pid] = (_scaled(seg, _T), cover)
    torso = segs[G.TORSO][0]
    end = DRESS_WAIST + 0.12 if cut == "dress" else JUMPSUIT_TORSO_END
    t_end = (_body_y(end) - torso.a[1]) / (torso.b[1] - torso.a[1])
    segs[G.TORSO] = (G.Segment(torso.a, (320, _body_y(end)), torso.w0,
                               torso.w0 + (torso.w1 - torso.w0) * t_end - (0.2 * WHOLE_HEAD if cut == "dress" else 0)),
                     1.0)
    if cut == "dress":
        segs[SKIRT] = (G.Segment((320, _body_y(DRESS_WAIST)), (320, _body_y(DRESS_HEM)),
                                 1.62 * WHOLE_HEAD, 2.6 * WHOLE_HEAD), 1.0)
    else:
        for pid, (seg, cover) in G.bottom_segments("trousers").items():
            segs[pid] = (_scaled(seg, _B), cover)
    return segs


def segments_v2(spec: G.ItemSpec) -> dict[int, tuple[G.Segment, float]]:
    if spec.garment == "whole":
        return whole_segments(spec.cut)
    if spec.cut == "skirt":
        return skirt_segments()
    return G.segments_for(spec)


# ---------------------------------------------------------------------------------------------------------- fabric


def weave(item_id: str, n: int = G.CANVAS) -> np.ndarray:
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


def _whole_texture(spec: G.ItemSpec) -> np.ndarray:
    """Pattern texture on the whole-garment canvas: periods scaled by K, motif and colour blocks placed for a body."""
    n = G.CANVAS
    if spec.pattern not in ("motif", "colour blocks"):
        return G.pattern_texture(replace(spec, garment="top", pattern_scale=spec.pattern_scale * K))
    base = np.asarray(spec.rgb, np.float32) / 255.0
    sec = np.asarray(spec.secondary_rgb, np.float32) / 255.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    if spec.pattern == "motif":
        cx, cy = _T(320, 150 + 1.05 * G.CANVAS_HEAD)
        w = G._motif_mask(spec.motif, cx, cy, 62.0 * spec.pattern_scale * K)
    else:
        v = spec.pattern_variant
        if v == 0:    # chest band
            w = ((yy > _T(0, 150 + 0.55 * G.CANVAS_HEAD)[1]) & (yy < _T(0, 150 + 1.35 * G.CANVAS_HEAD)[1]))
        elif v == 1:  # everything below the waist in the second colour
            w = yy > _body_y(DRESS_WAIST)
        elif v == 2:  # left / right halves
            w = xx > 320
        else:         # yoke and sleeves
            w = (yy < _T(0, 150 + 0.7 * G.CANVAS_HEAD)[1]) | ((np.abs(xx - 320) > 125 * K) & (yy < _body_y(3.0)))
        w = w.astype(np.float32)
    tex = base[None, None, :] * (1 - w[..., None]) + sec[None, None, :] * w[..., None]
    grain = np.random.default_rng(zlib.crc32(spec.item_id.encode())).normal(0, 0.008, (n // 4, n // 4))
    grain = np.kron(grain, np.ones((4, 4), np.float32))[:n, :n].astype(np.float32)
    return np.clip(tex + grain[..., None], 0, 1).astype(np.float32)


# ---------------------------------------------------------------------------------------------------------- canvases


class _Draw:
    """PIL drawing on a part-id map and a trim map (the darker ribbing / seams / hems drawn into the fabric)."""

    def __init__(self):
        self.part_img = Image.new("L", (G.CANVAS, G.CANVAS), 0)
        self.trim_img = Image.new("L", (G.CANVAS, G.CANVAS), 0)
        self.part = ImageDraw.Draw(self.part_img)
        self.trim = ImageDraw.Draw(self.trim_img)


def _skirt_panel(d: _Draw, seg: G.Segment, waistband: bool) -> None:
    """A flared panel whose hem is an arc (an A-line skirt seen from the front), a waistband and a hem line."""
    d.part.polygon(seg.polygon(0.0, 0.97), fill=SKIRT)
    (_, ay), (bx, by) = seg.a, seg.b
    half = seg.w1 / 2
    d.part.ellipse([bx - half, by - 0.09 * (by - ay), bx + half, by + 0.05 * (by - ay)], fill=SKIRT)
    if waistband:
        d.trim.polygon(seg.polygon(0.0, 0.07), fill=150)
    d.trim.arc([bx - half + 3, by - 0.09 * (by - ay) + 3, bx + half - 3, by + 0.05 * (by - ay) - 3], 10, 170,
               fill=120, width=6)


def _top_half(d: _Draw, spec: G.ItemSpec, segs: dict, f) -> None:
    """Bodice and sleeves of a whole garment: the v1 T-shirt cut (sloped shoulders, neckline, sleeve hems) mapped by f."""
    for pid in (G.TORSO, G.R_UPPER, G.L_UPPER):
        seg, cover = segs[pid]
        d.part.polygon(seg.polygon(0.0, cover), fill=pid)
    for side in (-1, 1):
        d.part.polygon([f(320 + side * 58, 0), f(320 + side * 58, 148), f(320 + side * 140, 174),
                        f(320 + side * 330, 236), f(320 + side * 330, 0)], fill=0)
    cx, cy = f(320, 150)
    if spec.neckline == "v-neck":
        hole = [(cx - 44 * K, cy - 30 * K), (cx + 44 * K, cy - 30 * K), (cx, cy + 100 * K)]
        d.part.polygon(hole, fill=0)
        d.trim.line(hole[:2][::-1] + [hole[2], hole[0]], fill=255, width=int(9 * K))
    else:
        box = [cx - 46 * K, cy - 30 * K, cx + 46 * K, cy + 30 * K]
        d.part.ellipse(box, fill=0)
        d.trim.ellipse([box[0] - 6, box[1] - 6, box[2] + 6, box[3] + 6], outline=255, width=int(9 * K))
    for pid in (G.R_UPPER, G.L_UPPER):
        seg, cover = segs[pid]
        d.trim.polygon(seg.polygon(cover - 0.09, cover), fill=170)


def build_canvas_v2(spec: G.ItemSpec) -> G.Canvas:
    """The flat v2 garment with weave; tops, trousers and shorts are the v1 canvas with the weave multiplied in."""
    if spec.garment != "whole" and spec.cut != "skirt":
        cv = G.build_canvas(spec)
        rgb = np.clip(cv.rgb.astype(np.float32) * weave(spec.item_id)[..., None], 0, 255)
        return G.Canvas(rgb=(rgb + 0.5).astype(np.uint8), alpha=cv.alpha, part=cv.part, segments=cv.segments)
    segs = segments_v2(spec)
    d = _Draw()
    if spec.cut == "skirt":
        tex = G.pattern_texture(spec)
        _skirt_panel(d, segs[SKIRT][0], waistband=True)
        d.trim.line([(320 - 40, 60 + 30), (320 - 40, 60 + 0.9 * G.CANVAS_HEAD)], fill=110, width=3)  # side zip seam
    else:
        tex = _whole_texture(spec)
        if spec.cut == "dress":
            _skirt_panel(d, segs[SKIRT][0], waistband=False)
        else:  # jumpsuit: trouser legs first, bodice over them
            for pid in (G.PELVIS, G.R_THIGH, G.R_SHIN, G.L_THIGH, G.L_SHIN):
                seg, cover = segs[pid]
                d.part.polygon(seg.polygon(0.0, cover), fill=pid)
            for pid in (G.R_SHIN, G.L_SHIN):
                seg, cover = segs[pid]
                d.trim.polygon(seg.polygon(cover - 0.05, cover), fill=120)
        _top_half(d, spec, segs, _T)
        waist = _body_y(DRESS_WAIST)  # a waist seam (dress) or belt (jumpsuit)
        half = 0.9 * WHOLE_HEAD
        d.trim.rectangle([320 - half, waist - (3 if spec.cut == "dress" else 9), 320 + half, waist + (3 if spec.cut == "dress" else 9)],
                         fill=140 if spec.cut == "dress" else 200)
    part = np.asarray(d.part_img, np.uint8).copy()
    alpha = (part > 0).astype(np.float32)
    trim = np.asarray(d.trim_img, np.float32)[..., None] / 255.0
    rgb = tex * (1 - 0.3 * trim) * weave(spec.item_id)[..., None]
    return G.Canvas(rgb=(np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), alpha=(alpha * 255).astype(np.uint8),
                    part=part, segments=segs)
