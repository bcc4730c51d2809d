"""Drawing a person wearing a catalogue item, with ground-truth mask and keypoints.

The drawing follows the recipe measured in docs/FACTS.md ("mediapipe 0.10.14 on drawn
people"): mediapipe only finds a pose on a drawn figure that has a frontal face (eyes with whites
and pupils, brows, nose, mouth), hair and a neck, 7.5-head proportions, hands and shoes, and
volumetric shading (Lambert light on a height field made from a distance transform). Without the
face the landmarks come out left/right swapped, so the face is never skipped.

The garment is not re-drawn: its canvas is warped panel by panel onto the body (``fitting.py``)
and the shading is multiplied on top, so the photo's garment is the stock image's garment. A top or
bottom is worn with a plain other garment; a whole garment (dress, jumpsuit) is worn alone. A skirt
hangs free (its own cut is its silhouette); every other panel is clipped to the body part it covers.
The item's data version (``versions.py``) sets the person's height range and whether the cloth folds.

Keypoints use mediapipe's names. "left" is the PERSON's left, which is on the IMAGE's right
for the frontal people drawn here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageDraw

from . import garments as G
from .canvas import canvas_for
from .fitting import body_segments, fold_params, fold_shade, warp_part
from .garments import CANVAS_HEAD, WHOLE_HEAD, ItemSpec, plain_item
from .versions import data_version as version_of

SS = 2  # supersampling factor for PIL-drawn masks (anti-aliased edges)

SKIN_TONES = [(255, 224, 196), (241, 194, 160), (226, 176, 134), (200, 140, 98), (170, 110, 72),
              (136, 88, 58), (104, 66, 44), (74, 48, 34)]
HAIR_COLOURS = [(22, 18, 16), (52, 34, 22), (92, 60, 34), (150, 110, 62), (200, 168, 110),
                (140, 62, 30), (170, 170, 170)]
SHOE_COLOURS = [(24, 24, 26), (235, 235, 235), (90, 56, 34), (40, 40, 70), (150, 30, 30)]
IRIS_COLOURS = [(60, 36, 20), (40, 26, 16), (70, 100, 130), (70, 90, 50)]

KEYPOINT_NAMES = ("nose", "left_eye", "right_eye", "left_shoulder", "right_shoulder", "left_elbow",
                  "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")


@dataclass
class PersonLayer:
    """A person on a transparent layer, plus what the scene needs to place things around them."""
    rgb: np.ndarray        # float32 [S, S, 3] 0..1 (premultiplied by alpha)
    alpha: np.ndarray      # float32 [S, S] 0..1: the ground-truth person mask (soft)
    keypoints: dict        # name -> (x, y) in pixels
    head: float            # head height in pixels
    garment_luma: float    # mean luminance of the item (the scene keeps some contrast to it)


# ------------------------------------------------------------------------------------------
# Skeleton

def _arm(rng: np.random.Generator, forbid_across: bool) -> tuple[str, float, float]:
    """(pose name, upper-arm angle, forearm angle), degrees from straight down, + = away from body."""
    kinds = ["relaxed", "akimbo", "out", "across"]
    p = [0.55, 0.2, 0.15, 0.1] if not forbid_across else [0.6, 0.24, 0.16, 0.0]
    kind = str(rng.choice(kinds, p=np.array(p) / sum(p)))
    if kind == "relaxed":
        up = rng.uniform(6, 22)
        return kind, up, up + rng.uniform(-4, 18)
    if kind == "akimbo":
        return kind, rng.uniform(35, 50), rng.uniform(-62, -38)
    if kind == "out":
        up = rng.uniform(45, 85)
        return kind, up, up + rng.uniform(-20, 35)
    return kind, rng.uniform(10, 22), rng.uniform(-118, -96)


def _skeleton(rng: np.random.Generator, h: float, cx: float, top: float, bw: float):
    """Joint positions (pixels) for a frontal standing person, person's right on image left."""
    stance = rng.uniform(0.0, 0.25)
    sx = 0.86 * bw
    hx = 0.5 * bw
    j = {
        "head_c": (0.0, 0.5), "neck": (0.0, 1.22),
        "right_shoulder": (-sx, 1.5), "left_shoulder": (sx, 1.5),
        "right_hip": (-hx, 3.95), "left_hip": (hx, 3.95),
        "right_knee": (-hx - 0.02 - stance, 5.65), "left_knee": (hx + 0.02 + stance, 5.65),
        "right_ankle": (-hx + 0.02 - 1.8 * stance, 7.12), "left_ankle": (hx - 0.02 + 1.8 * stance, 7.12),
    }
    kinds = {}
    across_taken = False
    for side, sign in (("right", -1), ("left", 1)):
        kind, a_up, a_lo = _arm(rng, across_taken)
        across_taken |= kind == "across"
        kinds[side] = kind
        shx, shy = j[f"{side}_shoulder"]
        ex = shx + sign * math.sin(math.radians(a_up)) * 1.4
        ey = shy + math.cos(math.radians(a_up)) * 1.4
        wx = ex + sign * math.sin(math.radians(a_lo)) * 1.15
        wy = ey + math.cos(math.radians(a_lo)) * 1.15
        j[f"{side}_elbow"] = (ex, ey)
        j[f"{side}_wrist"] = (wx, wy)
    # Whole-body lean about the feet, then to pixels.
    lean = math.radians(rng.uniform(-4, 4))
    c, s = math.cos(lean), math.sin(lean)
    out = {}
    for k, (x, y) in j.items():
        dy = y - 7.5
        x2, y2 = x * c - dy * s, x * s + dy * c + 7.5
        out[k] = (cx + x2 * h, top + y2 * h)
    return out, kinds


# ------------------------------------------------------------------------------------------
# Drawing helpers

class _Masks:
    """PIL drawing at SS x resolution, returned as float masks at 1x (anti-aliased)."""

    def __init__(self, size: int):
        self.size = size

    def new(self):
        img = Image.new("L", (self.size * SS, self.size * SS), 0)
        return img, ImageDraw.Draw(img)

    def done(self, img) -> np.ndarray:
        return np.asarray(img.reduce(SS), dtype=np.float32) / 255.0

    @staticmethod
    def capsule(d, p, q, r0, r1, fill=255):
        (x0, y0), (x1, y1) = p, q
        dx, dy = x1 - x0, y1 - y0
        n = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / n, dx / n
        k = SS
        d.polygon([((x0 + nx * r0) * k, (y0 + ny * r0) * k), ((x1 + nx * r1) * k, (y1 + ny * r1) * k),
                   ((x1 - nx * r1) * k, (y1 - ny * r1) * k), ((x0 - nx * r0) * k, (y0 - ny * r0) * k)], fill=fill)
        d.ellipse([(x0 - r0) * k, (y0 - r0) * k, (x0 + r0) * k, (y0 + r0) * k], fill=fill)
        d.ellipse([(x1 - r1) * k, (y1 - r1) * k, (x1 + r1) * k, (y1 + r1) * k], fill=fill)

    @staticmethod
    def ellipse(d, cx, cy, rx, ry, fill=255):
        k = SS
        d.ellipse([(cx - rx) * k, (cy - ry) * k, (cx + rx) * k, (cy + ry) * k], fill=fill)

    @staticmethod
    def polygon(d, pts, fill=255):
        d.polygon([(x * SS, y * SS) for x, y in pts], fill=fill)


def _grow(mask: np.ndarray, r: float) -> np.ndarray:
    """Dilate a mask by ``r`` pixels (soft edge)."""
    k = max(int(round(r)), 1) * 2 + 1
    grown = cv2.dilate((mask > 0.5).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return cv2.GaussianBlur(grown.astype(np.float32), (0, 0), 0.7)


def _shading(mask: np.ndarray, light: np.ndarray, ambient: float = 0.5) -> np.ndarray:
    """Lambert shading of the height field sqrt(1-(1-d/r)^2) made from the mask's distance transform.

    FACTS: this volumetric shading is what lifted mediapipe pose detection to ~1.0 on drawings.
    """
    out = np.ones_like(mask)
    m8 = (mask > 0.5).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(m8)
    if w == 0 or h == 0:
        return out
    pad = 3
    y0, x0 = max(y - pad, 0), max(x - pad, 0)
    sl = (slice(y0, y + h + pad), slice(x0, x + w + pad))
    m8 = m8[sl]
    dist = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    r = max(float(np.percentile(dist[m8 > 0], 98)), 1.0)
    u = np.clip(dist / r, 0, 1)
    z = np.sqrt(np.clip(1 - (1 - u) ** 2, 0, 1)) * r
    z = cv2.GaussianBlur(z, (0, 0), max(r * 0.15, 0.8))
    gy, gx = np.gradient(z)
    norm = np.sqrt(gx * gx + gy * gy + 1.0)
    lam = (-gx * light[0] - gy * light[1] + light[2]) / norm
    out[sl] = ambient + (1.05 - ambient) * np.clip(lam, 0, 1) / max(light[2], 0.6)
    return out


class _Painter:
    """Back-to-front compositing of flat or textured parts onto a transparent layer."""

    def __init__(self, size: int):
        self.rgb = np.zeros((size, size, 3), np.float32)
        self.alpha = np.zeros((size, size), np.float32)

    def paint(self, mask, colour, shade=None):
        # Work on the mask's bounding box only: most parts cover a few % of the frame.
        x, y, w, h = cv2.boundingRect((mask > 0.002).astype(np.uint8))
        if w == 0 or h == 0:
            return
        sl = (slice(y, y + h), slice(x, x + w))
        col = colour[sl] if isinstance(colour, np.ndarray) and colour.ndim == 3 \
            else np.asarray(colour, np.float32)[None, None, :]
        if shade is not None:
            col = col * shade[sl][..., None]
        m = mask[sl]
        self.rgb[sl] = self.rgb[sl] * (1 - m[..., None]) + col * m[..., None]
        self.alpha[sl] = self.alpha[sl] + m * (1 - self.alpha[sl])


# ------------------------------------------------------------------------------------------
# The person

def _paint_limb(painter: "_Painter", limb: np.ndarray, part_ids, gparts: dict, skin, light) -> None:
    """A bare limb and the garment pieces covering it, under ONE shading computed over their union, so the sleeve
    or trouser leg is lit as part of the same cylinder as the skin around it."""
    parts = [gparts[p][1] for p in part_ids if p in gparts]
    shade = _shading(np.maximum.reduce([limb, *parts]), light)
    painter.paint(limb, skin, shade)
    for p in part_ids:
        if p in gparts:
            painter.paint(gparts[p][1], gparts[p][0], shade)


def _body_masks(M: _Masks, j: dict, h: float, bw: float):
    """Neck, torso and per side an arm (with hand), a leg and a shoe: soft masks, full frame."""
    P = lambda k: j[k]  # noqa: E731
    neck = P("neck")
    img, d = M.new()
    M.capsule(d, (neck[0], neck[1] - 0.4 * h), neck, 0.22 * h * bw, 0.26 * h * bw)
    neck_m = M.done(img)

    rs, ls, rh, lh = P("right_shoulder"), P("left_shoulder"), P("right_hip"), P("left_hip")
    img, d = M.new()
    waist_y = (rs[1] + rh[1]) / 2 + 0.35 * h
    wm = ((rs[0] + ls[0]) / 2 + (rh[0] + lh[0]) / 2) / 2
    torso_poly = [(neck[0] - 0.25 * h, neck[1]), (rs[0] + 0.05 * h, rs[1] - 0.2 * h), (rs[0] - 0.2 * h, rs[1] + 0.15 * h),
                  (rs[0] + 0.1 * h, rs[1] + 0.75 * h), (wm - 0.62 * h * bw, waist_y), (rh[0] - 0.4 * h * bw, rh[1]),
                  (rh[0] + 0.2 * h, rh[1] + 0.45 * h), (lh[0] - 0.2 * h, lh[1] + 0.45 * h),
                  (lh[0] + 0.4 * h * bw, lh[1]), (wm + 0.62 * h * bw, waist_y), (ls[0] - 0.1 * h, ls[1] + 0.75 * h),
                  (ls[0] + 0.2 * h, ls[1] + 0.15 * h), (ls[0] - 0.05 * h, ls[1] - 0.2 * h), (neck[0] + 0.25 * h, neck[1])]
    M.polygon(d, torso_poly)
    torso_m = M.done(img)

    limbs = {}
    for side in ("right", "left"):
        img, d = M.new()
        M.capsule(d, P(f"{side}_shoulder"), P(f"{side}_elbow"), 0.27 * h * bw, 0.2 * h * bw)
        M.capsule(d, P(f"{side}_elbow"), P(f"{side}_wrist"), 0.2 * h * bw, 0.15 * h * bw)
        ex, ey = P(f"{side}_elbow")
        wx, wy = P(f"{side}_wrist")
        L = math.hypot(wx - ex, wy - ey) or 1
        hx, hy = wx + (wx - ex) / L * 0.3 * h, wy + (wy - ey) / L * 0.3 * h
        M.capsule(d, (wx, wy), (hx, hy), 0.17 * h, 0.2 * h)
        limbs[f"{side}_arm"] = M.done(img)
        img, d = M.new()
        M.capsule(d, P(f"{side}_hip"), P(f"{side}_knee"), 0.42 * h * bw, 0.29 * h * bw)
        M.capsule(d, P(f"{side}_knee"), P(f"{side}_ankle"), 0.29 * h * bw, 0.19 * h * bw)
        limbs[f"{side}_leg"] = M.done(img)
        img, d = M.new()
        ax_, ay_ = P(f"{side}_ankle")
        sgn = -1 if side == "right" else 1
        M.ellipse(d, ax_ + sgn * 0.08 * h, ay_ + 0.22 * h, 0.24 * h, 0.2 * h)
        M.polygon(d, [(ax_ - 0.2 * h, ay_ - 0.05 * h), (ax_ + 0.2 * h, ay_ - 0.05 * h), (ax_ + 0.22 * h, ay_ + 0.25 * h),
                      (ax_ - 0.22 * h, ay_ + 0.25 * h)])
        limbs[f"{side}_shoe"] = M.done(img)
    return neck_m, torso_m, limbs


def _head_masks(M: _Masks, hc, h: float, long_hair: bool, yy: np.ndarray):
    """Head (with ears), hair cap, hair without the face, and long hair falling behind the shoulders (or None)."""
    img, d = M.new()
    M.ellipse(d, hc[0], hc[1] + 0.03 * h, 0.36 * h, 0.5 * h)
    M.ellipse(d, hc[0] - 0.36 * h, hc[1] + 0.05 * h, 0.07 * h, 0.11 * h)
    M.ellipse(d, hc[0] + 0.36 * h, hc[1] + 0.05 * h, 0.07 * h, 0.11 * h)
    head_m = M.done(img)
    img, d = M.new()
    M.ellipse(d, hc[0], hc[1] - 0.06 * h, 0.42 * h, 0.5 * h)
    hair_cap = M.done(img)
    img, d = M.new()
    M.ellipse(d, hc[0], hc[1] + 0.2 * h, 0.34 * h, 0.5 * h)
    face_hole = M.done(img)
    hair_m = hair_cap * (1 - face_hole)
    hair_m *= np.clip((hc[1] + 0.08 * h - yy) / 2 + 0.5, 0, 1)
    back_hair = None
    if long_hair:
        img, d = M.new()
        M.capsule(d, (hc[0], hc[1]), (hc[0], hc[1] + 1.05 * h), 0.43 * h, 0.5 * h)
        back_hair = M.done(img)
    return head_m, hair_cap, hair_m, back_hair


def _dress(worn: list[ItemSpec], j: dict, h: float, bw: float, size: int, folds: dict | None) -> dict:
    """Warp every panel of the garments in ``worn`` (back to front: later panels win) onto the body.
    Returns {part id: (rgb, mask)}, before clipping."""
    gparts = {}
    for item in worn:
        cv = canvas_for(item)
        bsegs = body_segments(item, j, h, bw)
        hint = h / (WHOLE_HEAD if item.garment == "whole" else CANVAS_HEAD)
        for pid, (_, cover) in cv.segments.items():
            t0 = -0.35 if pid == G.TORSO and item.garment == "top" else 0.0
            shade = fold_shade(pid, folds) if folds is not None else None
            gparts[pid] = warp_part(cv, pid, bsegs[pid], size, hint, t0, cover, shade=shade)
    return gparts


def draw_person(spec: ItemSpec, rng: np.random.Generator, size: int) -> PersonLayer:
    """Draw one person wearing ``spec`` (and a plain other garment unless it is a whole garment) on a transparent
    layer, the way ``spec``'s data version draws people."""
    version = version_of(spec.data_version)
    S = size
    frac = rng.uniform(*version.height_range)     # person height / frame height (FACTS: 65-92 %)
    h = frac * S / 7.5
    top = rng.uniform(0.02 * S, S - frac * S - 0.02 * S)
    cx = rng.uniform(0.36, 0.64) * S
    bw = rng.uniform(0.88, 1.18)                  # build
    j, _ = _skeleton(rng, h, cx, top, bw)
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))], np.float32) / 255 * rng.uniform(0.95, 1.04), 0, 1)
    hair = np.array(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], np.float32) / 255
    shoe = np.array(SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))], np.float32) / 255
    iris = np.array(IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], np.float32) / 255
    long_hair = rng.random() < 0.45
    ang = rng.uniform(-0.9, 0.9)
    light = np.array([math.sin(ang) * 0.8, -rng.uniform(0.2, 0.6), 0.75])
    light /= np.linalg.norm(light)
    folds = fold_params(rng) if version.folds else None
    if spec.garment == "whole":
        worn = [spec]
    else:
        worn = [plain_item(rng, "bottom" if spec.garment == "top" else "top", spec.data_version), spec]

    M = _Masks(S)
    hc = j["head_c"]
    neck_m, torso_m, limbs = _body_masks(M, j, h, bw)
    yy = np.arange(S, dtype=np.float32)[:, None]
    gparts = _dress(worn, j, h, bw, S, folds)

    # Clothes follow the body: each panel is clipped to its body part grown by a little ease,
    # so sleeves are round at the shoulder and loose tops do not stick out as boxes.
    shoulder_y = min(j["right_shoulder"][1], j["left_shoulder"][1])
    clips = {
        G.TORSO: _grow(np.maximum(torso_m, neck_m), 0.14 * h),
        G.PELVIS: _grow(np.maximum.reduce([torso_m, limbs["right_leg"], limbs["left_leg"]]), 0.1 * h),
    }
    if any(item.cut == "hoodie" for item in worn):  # the hood lies above the shoulders, outside the body
        clips[G.TORSO] = np.maximum(clips[G.TORSO], (yy < shoulder_y - 0.25 * h).astype(np.float32))
    for side, ids in (("right", (G.R_UPPER, G.R_LOWER)), ("left", (G.L_UPPER, G.L_LOWER))):
        arm_clip = _grow(limbs[f"{side}_arm"], 0.08 * h)
        clips.update({i: arm_clip for i in ids})
    for side, ids in (("right", (G.R_THIGH, G.R_SHIN)), ("left", (G.L_THIGH, G.L_SHIN))):
        leg_clip = _grow(limbs[f"{side}_leg"], 0.1 * h)
        clips.update({i: leg_clip for i in ids})
    for pid, (rgb_p, mask_p) in gparts.items():
        if pid in clips:  # a skirt hangs free: its own cut is its silhouette
            gparts[pid] = (rgb_p, mask_p * clips[pid])

    head_m, hair_cap, hair_m, back_hair = _head_masks(M, hc, h, long_hair, yy)

    # --- shading per body group, then painting back to front -----------------------------------
    top_torso = gparts[G.TORSO][1]
    lower = [gparts[p][1] for p in (G.PELVIS, G.SKIRT) if p in gparts]
    shade_torso = _shading(np.maximum.reduce([torso_m, top_torso, *lower]), light)
    shade_head = _shading(np.maximum(head_m, hair_cap), light, 0.55)
    shade_neck = _shading(neck_m, light, 0.45) * 0.88
    painter = _Painter(S)
    if back_hair is not None:
        painter.paint(back_hair, hair, _shading(back_hair, light, 0.55) * 0.85)
    for side, part_ids in (("right", (G.R_THIGH, G.R_SHIN)), ("left", (G.L_THIGH, G.L_SHIN))):
        _paint_limb(painter, limbs[f"{side}_leg"], part_ids, gparts, skin, light)
        painter.paint(limbs[f"{side}_shoe"], shoe, _shading(limbs[f"{side}_shoe"], light, 0.55))
    painter.paint(torso_m, skin, shade_torso)
    painter.paint(neck_m, skin, shade_neck)
    if G.PELVIS in gparts:
        painter.paint(gparts[G.PELVIS][1], gparts[G.PELVIS][0], shade_torso)
    if G.SKIRT in gparts:
        painter.paint(gparts[G.SKIRT][1], gparts[G.SKIRT][0], _shading(gparts[G.SKIRT][1], light, 0.6))
    painter.paint(top_torso, gparts[G.TORSO][0], shade_torso)
    # Head and face.
    painter.paint(head_m, skin, shade_head)
    _draw_face(painter, M, hc, h, hair, iris, skin)
    painter.paint(hair_m, hair, shade_head * 0.9)
    # Arms last: in front of the torso (the "across" pose occludes the garment, on purpose).
    for side, part_ids in (("right", (G.R_UPPER, G.R_LOWER)), ("left", (G.L_UPPER, G.L_LOWER))):
        _paint_limb(painter, limbs[f"{side}_arm"], part_ids, gparts, skin, light)

    kps = {k: (float(x), float(y)) for k, (x, y) in j.items() if k in KEYPOINT_NAMES}
    kps["nose"] = (float(hc[0]), float(hc[1] + 0.12 * h))
    kps["right_eye"] = (float(hc[0] - 0.16 * h), float(hc[1]))
    kps["left_eye"] = (float(hc[0] + 0.16 * h), float(hc[1]))
    g = np.asarray(spec.rgb, np.float32) / 255
    luma = float(0.299 * g[0] + 0.587 * g[1] + 0.114 * g[2])
    return PersonLayer(rgb=painter.rgb, alpha=np.clip(painter.alpha, 0, 1), keypoints=kps, head=h, garment_luma=luma)


def _draw_face(painter: _Painter, M: _Masks, hc, h: float, hair, iris, skin) -> None:
    """Eyes with whites and pupils, brows, nose and mouth: what mediapipe needs to see a front."""
    cx, cy = hc
    for (rx, ry), colour in (((0.09, 0.05), (0.96, 0.96, 0.94)), ((0.045, 0.045), iris),
                             ((0.022, 0.022), (0.03, 0.03, 0.03))):  # white, iris, pupil
        img, d = M.new()
        for sgn in (-1, 1):
            M.ellipse(d, cx + sgn * 0.16 * h, cy, rx * h, ry * h)
        painter.paint(M.done(img), colour)
    img, d = M.new()
    for sgn in (-1, 1):
        x0, x1 = cx + sgn * 0.07 * h, cx + sgn * 0.27 * h
        d.line([(x0 * SS, (cy - 0.1 * h) * SS), (((x0 + x1) / 2) * SS, (cy - 0.13 * h) * SS), (x1 * SS, (cy - 0.1 * h) * SS)],
               fill=255, width=max(int(0.045 * h * SS), 2))
    painter.paint(M.done(img), np.asarray(hair) * 0.8)
    img, d = M.new()
    d.line([(cx * SS, (cy + 0.02 * h) * SS), ((cx - 0.04 * h) * SS, (cy + 0.17 * h) * SS), ((cx + 0.03 * h) * SS, (cy + 0.19 * h) * SS)],
           fill=255, width=max(int(0.03 * h * SS), 2))
    painter.paint(M.done(img), np.asarray(skin) * 0.7)
    img, d = M.new()
    M.ellipse(d, cx, cy + 0.3 * h, 0.12 * h, 0.04 * h)
    painter.paint(M.done(img), np.clip(np.asarray(skin) * np.array([0.75, 0.4, 0.4]), 0, 1))
