"""Putting a garment on the drawn body: body-side panel layouts, the canvas-to-body warp, and folds in the cloth.

The garment is not re-drawn: its flat canvas (``canvas.build_canvas``) is warped panel by panel onto the body segments
(torso, upper arm, forearm, pelvis, thigh, shin, skirt) with a cylindrical foreshortening across each segment. The
photo's garment is therefore the stock image's garment: same fabric, same cut, same neckline.

- ``body_segments`` lays out the same part ids on the body that ``garments.segments_for`` lays out on the canvas, so a
  pixel's (along, across) coordinates are shared by both. Skirts, and a dress's skirt, hang from the waist as one
  flared panel, widened so the knees never poke through.
- ``fold_params`` / ``fold_shade`` (data versions with ``folds``): seeded drape (vertical folds fanning out down a
  skirt), creases across sleeves and legs bunched at the elbows, knees and ankles, and soft diagonal pulls on the
  bodice, as multiplicative light and shade in the panel's own (along, across) coordinates, so folds follow the body.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from . import garments as G
from .canvas import Canvas
from .garments import (
    BODY_TORSO_TOP, BODY_WAIST_Y, DRESS_HEM, DRESS_WAIST, JUMPSUIT_TORSO_END, SKIRT_HEM, ItemSpec, Segment,
)

LIMBS = (G.R_UPPER, G.R_LOWER, G.L_UPPER, G.L_LOWER, G.R_THIGH, G.R_SHIN, G.L_THIGH, G.L_SHIN)


# ------------------------------------------------------------------------------------------
# Body-side layouts

def _trunk(j: dict):
    """Shoulder and hip midpoints, the unit axis from one to the other, shoulder and hip widths (pixels)."""
    P = lambda k: np.array(j[k], dtype=np.float64)  # noqa: E731
    sm = (P("left_shoulder") + P("right_shoulder")) / 2
    hm = (P("left_hip") + P("right_hip")) / 2
    axis = (hm - sm) / (np.linalg.norm(hm - sm) + 1e-6)
    sw = np.linalg.norm(P("left_shoulder") - P("right_shoulder"))
    hw = np.linalg.norm(P("left_hip") - P("right_hip"))
    return P, sm, hm, axis, sw, hw


def _top_segments(j: dict, h: float, bw: float) -> dict[int, Segment]:
    """A top on the body: torso from over the shoulders to the hem, upper arms and forearms."""
    P, sm, hm, axis, sw, hw = _trunk(j)
    hem = sm + (hm - sm) * (2.75 / 2.45)
    # The fabric starts over the top of the shoulders, not at the joints.
    segs = {G.TORSO: Segment(tuple(sm - axis * 0.32 * h), tuple(hem), sw + 0.5 * h * bw, hw + 1.0 * h * bw)}
    for side, (pu, pl) in (("right", (G.R_UPPER, G.R_LOWER)), ("left", (G.L_UPPER, G.L_LOWER))):
        s, e, w = P(f"{side}_shoulder"), P(f"{side}_elbow"), P(f"{side}_wrist")
        d = (e - s) / (np.linalg.norm(e - s) + 1e-6)
        segs[pu] = Segment(tuple(s - d * 0.15 * h), tuple(e), 0.66 * h * bw, 0.5 * h * bw)
        segs[pl] = Segment(tuple(e), tuple(e + (w - e) * 1.0), 0.5 * h * bw, 0.4 * h * bw)
    return segs


def _bottom_segments(j: dict, h: float, bw: float) -> dict[int, Segment]:
    """Trousers or shorts on the body: pelvis, thighs and shins."""
    P, sm, hm, axis, sw, hw = _trunk(j)
    segs = {G.PELVIS: Segment(tuple(hm - axis * 0.5 * h), tuple(hm + axis * 0.45 * h),
                            hw + 0.85 * h * bw, hw + 0.95 * h * bw)}
    for side, (pt, ps) in (("right", (G.R_THIGH, G.R_SHIN)), ("left", (G.L_THIGH, G.L_SHIN))):
        hp, kn, an = P(f"{side}_hip"), P(f"{side}_knee"), P(f"{side}_ankle")
        segs[pt] = Segment(tuple(hp), tuple(kn), 0.95 * h * bw, 0.64 * h * bw)
        segs[ps] = Segment(tuple(kn), tuple(an + (an - kn) / np.linalg.norm(an - kn) * 0.08 * h),
                           0.64 * h * bw, 0.54 * h * bw)
    return segs


def _knee_half_width(j: dict, centre: np.ndarray, axis: np.ndarray, h: float, bw: float) -> float:
    """Half the width a hem at knee height needs so both knees (and their thickness) stay under the fabric."""
    normal = np.array([-axis[1], axis[0]])
    spread = max(abs(float((np.array(j[f"{s}_knee"]) - centre) @ normal)) for s in ("left", "right"))
    return spread + 0.32 * h * bw + 0.12 * h


def _skirt_segment(j: dict, h: float, bw: float, top_y: float, hem_y: float, w0: float, flare: float) -> Segment:
    """A skirt hanging from body height ``top_y`` to ``hem_y`` (head units from the crown), wide enough at the hem
    for the knees; the gap between the legs is under fabric (mediapipe's mask fills that gap anyway)."""
    _, sm, _, axis, _, _ = _trunk(j)
    a, b = sm + axis * (top_y - 1.5) * h, sm + axis * (hem_y - 1.5) * h
    knees = _knee_half_width(j, (a + b) / 2, axis, h, bw) * 2
    return Segment(tuple(a), tuple(b), w0, max(flare * h * bw, knees * (hem_y - top_y) / (5.65 - top_y)))


def _whole_segments(spec: ItemSpec, j: dict, h: float, bw: float) -> dict[int, Segment]:
    """A dress (bodice to the waist, short sleeves, skirt) or jumpsuit (bodice, short sleeves, trouser legs)."""
    _, sm, _, axis, sw, hw = _trunk(j)
    top = _top_segments(j, h, bw)
    end = DRESS_WAIST + 0.12 if spec.cut == "dress" else JUMPSUIT_TORSO_END
    frac = (end - BODY_TORSO_TOP) / (4.25 - BODY_TORSO_TOP)
    w0, w1 = sw + 0.5 * h * bw, hw + 1.0 * h * bw
    waist_w = 1.5 * h * bw if spec.cut == "dress" else w0 + (w1 - w0) * frac
    segs = {G.TORSO: Segment(tuple(sm + axis * (BODY_TORSO_TOP - 1.5) * h), tuple(sm + axis * (end - 1.5) * h),
                           w0, waist_w)}
    for pid in (G.R_UPPER, G.L_UPPER):
        segs[pid] = top[pid]
    if spec.cut == "dress":
        segs[G.SKIRT] = _skirt_segment(j, h, bw, DRESS_WAIST, DRESS_HEM, 1.5 * h * bw, 2.6)
    else:
        bottom = _bottom_segments(j, h, bw)
        for pid in (G.PELVIS, G.R_THIGH, G.R_SHIN, G.L_THIGH, G.L_SHIN):
            segs[pid] = bottom[pid]
    return segs


def body_segments(spec: ItemSpec, j: dict, h: float, bw: float) -> dict[int, Segment]:
    """The body-side segments matching ``garments.segments_for``: (t, s) on the body = (t, s) on the canvas.

    ``j``: joint positions in pixels, ``h``: head height in pixels, ``bw``: build (width factor)."""
    if spec.garment == "whole":
        return _whole_segments(spec, j, h, bw)
    if spec.cut == "skirt":
        return {G.SKIRT: _skirt_segment(j, h, bw, BODY_WAIST_Y, SKIRT_HEM, 1.55 * h * bw, 2.55)}
    return _top_segments(j, h, bw) if spec.garment == "top" else _bottom_segments(j, h, bw)


# ------------------------------------------------------------------------------------------
# Folds

def fold_params(rng: np.random.Generator) -> dict:
    """Seeded fold shapes for one photo (the same garment drapes differently in each photo)."""
    return {
        "skirt": (rng.uniform(1.8, 3.4), rng.uniform(0, 1), rng.uniform(0.08, 0.15)),
        "torso": (rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.035, 0.07)),
        "limb": [(rng.uniform(2.5, 5.5), rng.uniform(0, 1), rng.uniform(0.05, 0.11)) for _ in range(8)],
        "pelvis": (rng.uniform(0, 1), rng.uniform(0.03, 0.06)),
    }


def _fold(pid: int, t: np.ndarray, s: np.ndarray, folds: dict) -> np.ndarray:
    """Light/shade multiplier around 1 in a panel's (t along, s across) coordinates."""
    two_pi = 2 * math.pi
    if pid == G.SKIRT:
        m, ph, amp = folds["skirt"]
        return 1 + amp * (0.3 + 0.7 * np.clip(t, 0, 1)) * np.sin(two_pi * (m * s + ph))
    if pid == G.TORSO:
        ph1, ph2, amp = folds["torso"]
        f = 0.6 * np.sin(two_pi * (1.1 * s + 0.7 * t + ph1)) + 0.4 * np.sin(two_pi * (3.0 * t + ph2)) * (t > 0.55)
        return 1 + amp * f
    if pid == G.PELVIS:
        ph, amp = folds["pelvis"]
        return 1 + amp * np.sin(two_pi * (2.5 * t + 0.6 * np.abs(s) + ph))
    n, ph, amp = folds["limb"][LIMBS.index(pid)] if pid in LIMBS else (3.0, 0.0, 0.0)
    joint = 1.0 if pid in (G.R_UPPER, G.L_UPPER, G.R_THIGH, G.L_THIGH, G.R_SHIN, G.L_SHIN) else 0.0
    env = 0.35 + 0.65 * np.exp(-((t - joint) / 0.28) ** 2)  # creases bunch at elbows, knees and ankles
    return 1 + amp * env * np.sin(two_pi * (n * t + 0.35 * s + ph))


def fold_shade(pid: int, folds: dict):
    """The ``shade(t, s)`` that ``warp_part`` multiplies into panel ``pid`` for the folds ``folds``."""
    return lambda t, s: _fold(pid, t, np.clip(s, -1.2, 1.2), folds).astype(np.float32)


# ------------------------------------------------------------------------------------------
# The warp

def _seg_frame(seg: Segment):
    ax, ay = seg.a
    dx, dy = seg.b[0] - ax, seg.b[1] - ay
    length = math.hypot(dx, dy) or 1.0
    return ax, ay, dx / length, dy / length, length


def warp_part(canvas: Canvas, pid: int, seg_p: Segment, size: int, scale_hint: float,
              t0: float = 0.0, t1: float = 1.0, shade=None):
    """Warp canvas panel ``pid`` onto the body segment ``seg_p``; returns (rgb, mask) full frame.

    ``shade(t, s)``, when given, is a light/shade multiplier on the same (t, s) grid (the folds).

    A photo pixel's coordinates along the segment (t) and across it (s in -1..1) are mapped to
    the same (t, s) on the canvas panel. Across the segment, s is replaced by asin(k s)/asin(k):
    the fabric is wrapped on a cylinder, so the pattern compresses towards the body's edges.
    """
    seg_c = canvas.segments[pid][0]
    poly = np.array(seg_p.polygon(t0, t1, grow=2.0))
    x0, y0 = np.floor(poly.min(0)).astype(int)
    x1, y1 = np.ceil(poly.max(0)).astype(int) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, size), min(y1, size)
    rgb = np.zeros((size, size, 3), np.float32)
    mask = np.zeros((size, size), np.float32)
    if x1 <= x0 or y1 <= y0:
        return rgb, mask
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    ax, ay, dx, dy, lp = _seg_frame(seg_p)
    nx, ny = -dy, dx
    rx, ry = xs - ax, ys - ay
    t = (rx * dx + ry * dy) / lp
    tc = np.clip(t, 0, 1)
    s = (rx * nx + ry * ny) / ((seg_p.w0 + (seg_p.w1 - seg_p.w0) * tc) / 2)
    k = 0.93
    s_in = np.clip(s, -1, 1)
    s_c = np.where(np.abs(s) <= 1, np.arcsin(k * s_in) / math.asin(k), s)
    cax, cay, cdx, cdy, lc = _seg_frame(seg_c)
    cnx, cny = -cdy, cdx
    wc = (seg_c.w0 + (seg_c.w1 - seg_c.w0) * tc) / 2
    u = cax + t * lc * cdx + s_c * wc * cnx
    v = cay + t * lc * cdy + s_c * wc * cny
    # Sample a pre-shrunk canvas when the photo is much smaller (avoids aliasing of stripes).
    level = 2 if scale_hint < 0.45 else 1
    src_rgb, src_a = canvas.level(level)
    u = (u / level).astype(np.float32)
    v = (v / level).astype(np.float32)
    crop_rgb = cv2.remap(src_rgb, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    crop_a = cv2.remap(src_a, u, v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # Neighbouring panels overlap a little (no seams open at the knee or elbow); the canvas
    # alpha carries the cut (neckline, sleeve length, armholes).
    inside = (t >= t0 - 0.03) & (t <= t1 + 0.03)
    rgb[y0:y1, x0:x1] = crop_rgb.astype(np.float32) / 255.0
    if shade is not None:
        rgb[y0:y1, x0:x1] *= shade(t, s)[..., None]
    mask[y0:y1, x0:x1] = crop_a.astype(np.float32) / 255.0 * inside
    return rgb, mask
