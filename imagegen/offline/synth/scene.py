"""Backgrounds, lighting, occluders and camera effects around a drawn person.

Why these choices (see docs/FACTS.md): mediapipe's selfie segmentation absorbs saturated
blobs next to a person into the mask, so the background is desaturated (x0.35-0.75), blurred
(sigma 1-2.5 px, a shallow depth of field) and its clutter is kept out of the person's box. The
camera effects (noise, blur, JPEG 60-90, colour cast) cost ~0.02 IoU but keep a model trained on
these photos from relying on perfectly clean pixels.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .person import PersonLayer


def _perspective(person: PersonLayer, rng: np.random.Generator, size: int):
    """A mild camera tilt: small rotation about the person plus corner jitter (a homography)."""
    S = size
    kp = person.keypoints
    c = np.mean([kp["left_hip"], kp["right_hip"], kp["left_shoulder"], kp["right_shoulder"]], axis=0)
    rot = math.radians(rng.uniform(-5, 5))
    R = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), math.degrees(rot), 1.0)
    src = np.float32([[0, 0], [S, 0], [S, S], [0, S]])
    jit = rng.uniform(-0.025, 0.025, (4, 2)).astype(np.float32) * S
    dst = (src @ R[:, :2].T + R[:, 2]).astype(np.float32) + jit
    H = cv2.getPerspectiveTransform(src, dst)
    rgb = cv2.warpPerspective(person.rgb, H, (S, S), flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpPerspective(person.alpha, H, (S, S), flags=cv2.INTER_LINEAR, borderValue=0)
    pts = np.array(list(kp.values()), np.float32).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(pts, H).reshape(-1, 2)
    kps = {k: (float(x), float(y)) for k, (x, y) in zip(kp.keys(), moved)}
    return rgb, alpha, kps


def _lowfreq_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def _random_colour(rng: np.random.Generator, sat=(0.1, 0.6), val=(0.25, 0.9)) -> np.ndarray:
    import colorsys
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val)), np.float32)


def background(rng: np.random.Generator, size: int, box, feet_y: float, avoid_luma: float) -> np.ndarray:
    """A calm backdrop: wall + floor, a texture, and clutter that stays outside ``box``.

    Drawn at half resolution and scaled up: it is blurred anyway, and this halves its cost.
    """
    full = size
    S = size // 2
    box = tuple(v / 2 for v in box)
    feet_y = feet_y / 2
    kind = rng.choice(["studio", "street", "interior", "park"], p=[0.2, 0.35, 0.25, 0.2])
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    wall = _random_colour(rng)
    floor = _random_colour(rng, (0.05, 0.4), (0.2, 0.8))
    if kind == "park":
        wall = np.array([0.55, 0.7, 0.85], np.float32) * rng.uniform(0.8, 1.1)
        floor = np.array([0.35, 0.5, 0.3], np.float32) * rng.uniform(0.8, 1.2)
    horizon = (feet_y / S) - rng.uniform(0.08, 0.3)
    t = np.clip((yy - horizon) * S / 3 + 0.5, 0, 1)[..., None]
    img = wall[None, None] * (1 - t) * (1 + 0.15 * (0.5 - yy[..., None])) + floor[None, None] * t * (0.85 + 0.3 * yy[..., None])
    # Texture: bricks / panels on the wall, tiles or noise on the floor.
    tex = rng.random()
    if kind == "street" and tex < 0.6:
        bh = rng.uniform(0.035, 0.06)
        row = np.floor(yy / bh)
        bx = (xx + (row % 2) * bh) / (2 * bh)
        mortar = ((yy / bh) % 1 < 0.12) | ((bx % 1) < 0.06)
        img = img * (1 - 0.12 * (mortar & (t[..., 0] < 0.5))[..., None])
    elif kind == "interior" and tex < 0.5:
        pw = rng.uniform(0.08, 0.2)
        img = img * (1 - 0.08 * (((xx / pw) % 1) < 0.05) * (t[..., 0] < 0.5))[..., None]
    img = img * (0.9 + 0.2 * _lowfreq_noise(rng, S, int(rng.integers(3, 9))))[..., None]

    # Clutter: windows, doors, poles, plants, parked things; never inside the person's box.
    x0, y0, x1, y1 = box
    pad = 0.06 * S
    canvas = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    d = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 7))):
        w, hgt = rng.uniform(0.05, 0.3) * S, rng.uniform(0.05, 0.45) * S
        ox, oy = rng.uniform(-0.1, 1.0) * S, rng.uniform(-0.1, 0.9) * S
        if not (ox + w < x0 - pad or ox > x1 + pad or oy + hgt < y0 - pad or oy > y1 + pad):
            continue
        col = tuple(int(c * 255) for c in _random_colour(rng, (0.2, 0.9), (0.2, 0.95)))
        if kind == "park" or rng.random() < 0.3:
            d.ellipse([ox, oy, ox + w, oy + hgt], fill=col)
        else:
            d.rectangle([ox, oy, ox + w, oy + hgt], fill=col)
            if rng.random() < 0.5:  # a window frame
                d.rectangle([ox, oy, ox + w, oy + hgt], outline=tuple(int(c * 0.6) for c in col), width=3)
    img = np.asarray(canvas, np.float32) / 255.0

    # Desaturate (FACTS: x0.35-0.75) and keep some contrast to the garment (pale on pale is lost).
    grey = img @ np.array([0.299, 0.587, 0.114], np.float32)
    img = grey[..., None] + (img - grey[..., None]) * rng.uniform(0.35, 0.75)
    mean = float(grey.mean())
    if abs(mean - avoid_luma) < 0.15:
        img = img * (0.7 if avoid_luma > 0.45 else 1.35)
    img = cv2.GaussianBlur(np.clip(img, 0, 1).astype(np.float32), (0, 0), rng.uniform(1.0, 2.5) / 2)
    return cv2.resize(img, (full, full), interpolation=cv2.INTER_LINEAR)


def _bag(rng: np.random.Generator, kps: dict, h: float, size: int):
    """A handbag hanging at one hip from a shoulder strap: a partial occluder (mask, colour)."""
    side = "left" if rng.random() < 0.5 else "right"
    sgn = 1 if side == "left" else -1
    hip = np.array(kps[f"{side}_hip"])
    sh = np.array(kps[f"{'right' if side == 'left' else 'left'}_shoulder"])
    bw, bh = rng.uniform(0.7, 1.1) * h, rng.uniform(0.55, 0.85) * h
    cx, cy = hip[0] + sgn * rng.uniform(0.2, 0.6) * h, hip[1] + rng.uniform(-0.1, 0.4) * h
    img = Image.new("L", (size * 2, size * 2), 0)
    d = ImageDraw.Draw(img)
    d.line([(sh[0] * 2, sh[1] * 2), (cx * 2, (cy - bh / 2) * 2)], fill=255, width=max(int(0.08 * h * 2), 2))
    d.rounded_rectangle([(cx - bw / 2) * 2, (cy - bh / 2) * 2, (cx + bw / 2) * 2, (cy + bh / 2) * 2],
                        radius=int(0.15 * h * 2), fill=255)
    m = np.asarray(img.reduce(2), np.float32) / 255
    col = _random_colour(rng, (0.1, 0.5), (0.15, 0.7))
    return m, col


def compose_photo(person: PersonLayer, rng: np.random.Generator, size: int):
    """Person + background + lighting + occluder + camera -> (PIL pre-JPEG, mask, keypoints, quality)."""
    S = size
    rgb, alpha, kps = _perspective(person, rng, S)
    h = person.head
    if rng.random() < 0.18:
        bag_m, bag_c = _bag(rng, kps, h, S)
        shade = 0.8 + 0.2 * cv2.GaussianBlur(bag_m, (0, 0), h * 0.15)
        rgb = rgb * (1 - bag_m[..., None]) + bag_c[None, None] * (bag_m * shade)[..., None]
        alpha = alpha + bag_m * (1 - alpha)
    ys, xs = np.nonzero(alpha > 0.5)
    box = (xs.min(), ys.min(), xs.max(), ys.max())
    feet_y = max(kps["left_ankle"][1], kps["right_ankle"][1]) + 0.3 * h
    bg = background(rng, S, box, feet_y, person.garment_luma)

    bg = contact_shadow(bg, rng, kps, feet_y, h)
    img = lighting(bg * (1 - alpha[..., None]) + rgb, rng)
    # Camera: lens blur, sensor noise; the JPEG quality is returned for the single real encode.
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.8))
    img = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(1.0, 4.0) / 255)
    out = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    quality = int(rng.integers(60, 91))
    return out, np.clip(alpha, 0, 1).astype(np.float32), kps, quality


def contact_shadow(bg: np.ndarray, rng: np.random.Generator, kps: dict, feet_y: float, h: float) -> np.ndarray:
    """A soft contact shadow under the feet, darkening the background."""
    S = bg.shape[0]
    ax = (kps["left_ankle"][0] + kps["right_ankle"][0]) / 2
    sh = np.zeros((S, S), np.float32)
    cv2.ellipse(sh, (int(ax), int(feet_y)), (int(abs(kps["left_ankle"][0] - kps["right_ankle"][0]) / 2 + 0.9 * h), int(0.2 * h)),
                0, 0, 360, 1.0, -1)
    sh = cv2.GaussianBlur(sh, (0, 0), 0.15 * h + 1)
    return bg * (1 - rng.uniform(0.3, 0.55) * sh)[..., None]


def lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Exposure, colour cast and a directional ramp across the frame."""
    S = img.shape[0]
    gain = rng.uniform(0.85, 1.12) * (1 + rng.normal(0, 0.035, 3)).astype(np.float32)
    th = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    ramp = 1 + rng.uniform(-0.12, 0.12) * ((xx - 0.5) * math.cos(th) + (yy - 0.5) * math.sin(th)) * 2
    return img * gain[None, None] * ramp[..., None]
