"""Procedural data v2: a person wearing a v2 item (dress, jumpsuit, skirt or a v1 cut), with folds in the cloth.

Same recipe as ``person.py`` (frontal face, 7.5-head proportions, volumetric shading: what mediapipe needs to find a
drawn person, docs/FACTS.md) and the same warp of the flat canvas onto the body, so the photo's garment is the stock
image's garment. What v2 adds:

- ``whole`` garments: one canvas covers torso, sleeves and skirt or trouser legs; nobody wears a second item with it.
- skirts and a dress's skirt hang from the waist as one flared panel, not clipped to the legs, widened so the knees
  never poke through; the gap between the legs is under fabric (mediapipe's mask fills that gap anyway).
- folds: every worn panel gets seeded drape (vertical folds fanning out down a skirt), creases across sleeves and
  legs bunched at the elbows, knees and ankles, and soft diagonal pulls on the bodice, as multiplicative light and
  shade in the panel's own (along, across) coordinates, so folds follow the body.

Kept separate from ``person.py`` so v1 output stays byte-identical (no extra random draws on the v1 path).
"""
from __future__ import annotations

import math

import numpy as np

from . import garments as G
from . import garments_v2 as G2
from .person import (
    HAIR_COLOURS,
    IRIS_COLOURS,
    KEYPOINT_NAMES,
    SHOE_COLOURS,
    SKIN_TONES,
    PersonLayer,
    _draw_face,
    _garment_segments,
    _grow,
    _Masks,
    _paint_limb,
    _Painter,
    _shading,
    _skeleton,
    _warp_part,
)

LIMBS = (G.R_UPPER, G.R_LOWER, G.L_UPPER, G.L_LOWER, G.R_THIGH, G.R_SHIN, G.L_THIGH, G.L_SHIN)


def _fold_params(rng: np.random.Generator) -> dict:
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
    if pid == G2.SKIRT:
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


def _knee_half_width(j: dict, centre: np.ndarray, axis: np.ndarray, h: float, bw: float) -> float:
    """Half the width a hem at knee height needs so both knees (and their thickness) stay under the fabric."""
    normal = np.array([-axis[1], axis[0]])
    spread = max(abs(float((np.array(j[f"{s}_knee"]) - centre) @ normal)) for s in ("left", "right"))
    return spread + 0.32 * h * bw + 0.12 * h


def garment_segments_v2(spec: G.ItemSpec, j: dict, h: float, bw: float) -> dict[int, G.Segment]:
    """Body-side segments matching ``garments_v2.segments_v2``: (t, s) on the body = (t, s) on the canvas."""
    if spec.garment != "whole" and spec.cut != "skirt":
        return _garment_segments(spec, j, h, bw)
    P = lambda k: np.array(j[k], dtype=np.float64)
    sm = (P("left_shoulder") + P("right_shoulder")) / 2
    hm = (P("left_hip") + P("right_hip")) / 2
    axis = (hm - sm) / (np.linalg.norm(hm - sm) + 1e-6)
    at = lambda y_head: sm + axis * (y_head - 1.5) * h
    sw = np.linalg.norm(P("left_shoulder") - P("right_shoulder"))
    hw = np.linalg.norm(P("left_hip") - P("right_hip"))
    segs: dict[int, G.Segment] = {}

    def skirt(top_y: float, hem_y: float, w0: float, flare: float) -> G.Segment:
        a, b = at(top_y), at(hem_y)
        knees = _knee_half_width(j, (a + b) / 2, axis, h, bw) * 2
        return G.Segment(tuple(a), tuple(b), w0, max(flare * h * bw, knees * (hem_y - top_y) / (5.65 - top_y)))

    if spec.cut == "skirt":
        segs[G2.SKIRT] = skirt(G2.BODY_WAIST_Y, G2.SKIRT_HEM, 1.55 * h * bw, 2.55)
        return segs
    top = _garment_segments(_as_top(spec), j, h, bw)
    end = G2.DRESS_WAIST + 0.12 if spec.cut == "dress" else G2.JUMPSUIT_TORSO_END
    frac = (end - G2.BODY_TORSO_TOP) / (4.25 - G2.BODY_TORSO_TOP)
    w0, w1 = sw + 0.5 * h * bw, hw + 1.0 * h * bw
    waist_w = 1.5 * h * bw if spec.cut == "dress" else w0 + (w1 - w0) * frac
    segs[G.TORSO] = G.Segment(tuple(at(G2.BODY_TORSO_TOP)), tuple(at(end)), w0, waist_w)
    for pid in (G.R_UPPER, G.L_UPPER):
        segs[pid] = top[pid]
    if spec.cut == "dress":
        segs[G2.SKIRT] = skirt(G2.DRESS_WAIST, G2.DRESS_HEM, 1.5 * h * bw, 2.6)
    else:
        bottom = _garment_segments(_as_bottom(spec), j, h, bw)
        for pid in (G.PELVIS, G.R_THIGH, G.R_SHIN, G.L_THIGH, G.L_SHIN):
            segs[pid] = bottom[pid]
    return segs


def _as_top(spec: G.ItemSpec) -> G.ItemSpec:
    from dataclasses import replace
    return replace(spec, garment="top")


def _as_bottom(spec: G.ItemSpec) -> G.ItemSpec:
    from dataclasses import replace
    return replace(spec, garment="bottom")


def draw_person_v2(spec: G.ItemSpec, rng: np.random.Generator, size: int) -> PersonLayer:
    """Draw one person wearing v2 item ``spec`` (plus a plain other garment unless it is a whole garment)."""
    S = size
    frac = rng.uniform(0.68, 0.92)                # person height / frame height (FACTS: 65-92 %)
    h = frac * S / 7.5
    top = rng.uniform(0.02 * S, S - frac * S - 0.02 * S)
    cx = rng.uniform(0.36, 0.64) * S
    bw = rng.uniform(0.88, 1.18)
    j, _ = _skeleton(rng, h, cx, top, bw)
    skin = np.clip(np.array(SKIN_TONES[rng.integers(len(SKIN_TONES))], np.float32) / 255 * rng.uniform(0.95, 1.04), 0, 1)
    hair = np.array(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))], np.float32) / 255
    shoe = np.array(SHOE_COLOURS[rng.integers(len(SHOE_COLOURS))], np.float32) / 255
    iris = np.array(IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))], np.float32) / 255
    long_hair = rng.random() < 0.45
    ang = rng.uniform(-0.9, 0.9)
    light = np.array([math.sin(ang) * 0.8, -rng.uniform(0.2, 0.6), 0.75])
    light /= np.linalg.norm(light)
    folds = _fold_params(rng)

    if spec.garment == "whole":
        worn = [spec]
    else:
        from dataclasses import replace
        other = replace(G.plain_item(rng, "bottom" if spec.garment == "top" else "top"), data_version=2)
        worn = [spec, other]

    M = _Masks(S)
    P = lambda k: j[k]
    hc, neck = P("head_c"), P("neck")

    img, d = M.new()
    M.capsule(d, (neck[0], neck[1] - 0.4 * h), neck, 0.22 * h * bw, 0.26 * h * bw)
    neck_m = M.done(img)
    rs, ls, rh, lh = P("right_shoulder"), P("left_shoulder"), P("right_hip"), P("left_hip")
    img, d = M.new()
    waist_y = (rs[1] + rh[1]) / 2 + 0.35 * h
    wm = ((rs[0] + ls[0]) / 2 + (rh[0] + lh[0]) / 2) / 2
    M.polygon(d, [(neck[0] - 0.25 * h, neck[1]), (rs[0] + 0.05 * h, rs[1] - 0.2 * h), (rs[0] - 0.2 * h, rs[1] + 0.15 * h),
                  (rs[0] + 0.1 * h, rs[1] + 0.75 * h), (wm - 0.62 * h * bw, waist_y), (rh[0] - 0.4 * h * bw, rh[1]),
                  (rh[0] + 0.2 * h, rh[1] + 0.45 * h), (lh[0] - 0.2 * h, lh[1] + 0.45 * h),
                  (lh[0] + 0.4 * h * bw, lh[1]), (wm + 0.62 * h * bw, waist_y), (ls[0] - 0.1 * h, ls[1] + 0.75 * h),
                  (ls[0] + 0.2 * h, ls[1] + 0.15 * h), (ls[0] - 0.05 * h, ls[1] - 0.2 * h), (neck[0] + 0.25 * h, neck[1])])
    torso_m = M.done(img)
    limbs = {}
    for side in ("right", "left"):
        img, d = M.new()
        M.capsule(d, P(f"{side}_shoulder"), P(f"{side}_elbow"), 0.27 * h * bw, 0.2 * h * bw)
        M.capsule(d, P(f"{side}_elbow"), P(f"{side}_wrist"), 0.2 * h * bw, 0.15 * h * bw)
        ex, ey = P(f"{side}_elbow")
        wx, wy = P(f"{side}_wrist")
        L = math.hypot(wx - ex, wy - ey) or 1
        M.capsule(d, (wx, wy), (wx + (wx - ex) / L * 0.3 * h, wy + (wy - ey) / L * 0.3 * h), 0.17 * h, 0.2 * h)
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
    yy_col = np.arange(S, dtype=np.float32)[:, None]

    # Garment panels, back to front within the list: the item last, so its panels win over the plain garment's.
    gparts = {}
    hoodie = False
    for item in worn[::-1]:
        cv = G.canvas_for(item)
        bsegs = garment_segments_v2(item, j, h, bw)
        hoodie |= item.cut == "hoodie"
        for pid, (_, cover) in cv.segments.items():
            t0 = -0.35 if pid == G.TORSO and item.garment == "top" else 0.0
            hint = h / (G2.WHOLE_HEAD if item.garment == "whole" else G.CANVAS_HEAD)
            gparts[pid] = _warp_part(cv, pid, bsegs[pid], S, hint, t0, cover,
                                     shade=lambda t, s, pid=pid: _fold(pid, t, np.clip(s, -1.2, 1.2),
                                                                       folds).astype(np.float32))

    shoulder_y = min(rs[1], ls[1])
    clips = {
        G.TORSO: _grow(np.maximum(torso_m, neck_m), 0.14 * h),
        G.PELVIS: _grow(np.maximum.reduce([torso_m, limbs["right_leg"], limbs["left_leg"]]), 0.1 * h),
    }
    if hoodie:
        clips[G.TORSO] = np.maximum(clips[G.TORSO], (yy_col < shoulder_y - 0.25 * h).astype(np.float32))
    for side, ids in (("right", (G.R_UPPER, G.R_LOWER)), ("left", (G.L_UPPER, G.L_LOWER))):
        arm_clip = _grow(limbs[f"{side}_arm"], 0.08 * h)
        clips.update({i: arm_clip for i in ids})
    for side, ids in (("right", (G.R_THIGH, G.R_SHIN)), ("left", (G.L_THIGH, G.L_SHIN))):
        leg_clip = _grow(limbs[f"{side}_leg"], 0.1 * h)
        clips.update({i: leg_clip for i in ids})
    for pid, (rgb_p, mask_p) in gparts.items():
        if pid in clips:  # a skirt hangs free: its own cut is its silhouette
            gparts[pid] = (rgb_p, mask_p * clips[pid])

    # Head.
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
    hair_m *= np.clip((hc[1] + 0.08 * h - yy_col) / 2 + 0.5, 0, 1)
    back_hair = None
    if long_hair:
        img, d = M.new()
        M.capsule(d, (hc[0], hc[1]), (hc[0], hc[1] + 1.05 * h), 0.43 * h, 0.5 * h)
        back_hair = M.done(img)

    empty = np.zeros((S, S), np.float32)
    top_torso = gparts[G.TORSO][1]
    pelvis = gparts[G.PELVIS][1] if G.PELVIS in gparts else empty
    skirt = gparts[G2.SKIRT][1] if G2.SKIRT in gparts else empty
    shade_torso = _shading(np.maximum.reduce([torso_m, top_torso, pelvis, skirt]), light)
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
        painter.paint(pelvis, gparts[G.PELVIS][0], shade_torso)
    if G2.SKIRT in gparts:
        painter.paint(skirt, gparts[G2.SKIRT][0], _shading(skirt, light, 0.6))
    painter.paint(top_torso, gparts[G.TORSO][0], shade_torso)
    painter.paint(head_m, skin, shade_head)
    _draw_face(painter, M, hc, h, hair, iris, skin)
    painter.paint(hair_m, hair, shade_head * 0.9)
    for side, part_ids in (("right", (G.R_UPPER, G.R_LOWER)), ("left", (G.L_UPPER, G.L_LOWER))):
        _paint_limb(painter, limbs[f"{side}_arm"], part_ids, gparts, skin, light)

    kps = {k: (float(x), float(y)) for k, (x, y) in j.items() if k in KEYPOINT_NAMES}
    kps["nose"] = (float(hc[0]), float(hc[1] + 0.12 * h))
    kps["right_eye"] = (float(hc[0] - 0.16 * h), float(hc[1]))
    kps["left_eye"] = (float(hc[0] + 0.16 * h), float(hc[1]))
    g = np.asarray(spec.rgb, np.float32) / 255
    luma = float(0.299 * g[0] + 0.587 * g[1] + 0.114 * g[2])
    return PersonLayer(rgb=painter.rgb, alpha=np.clip(painter.alpha, 0, 1), keypoints=kps, head=h, garment_luma=luma)


def render_photo_v2(spec: G.ItemSpec, seed, size: int = 384):
    """(PIL image before JPEG, mask, keypoints, JPEG quality, meta {"background", "treatment"}) for a v2 item."""
    from .scene_v2 import compose_photo_v2

    rng = np.random.default_rng(seed)
    person = draw_person_v2(spec, rng, size)
    return compose_photo_v2(person, rng, size)
