"""A street photo around a drawn person: camera tilt, backdrop, occluder, lighting, photo treatment and camera.

Why these choices (see docs/FACTS.md): the backdrop (``backdrops.py``) is muted, out of focus and keeps its clutter
away from the person, or mediapipe's segmentation absorbs it. The camera effects (noise, blur, JPEG 60-90, colour
cast) cost ~0.02 IoU but keep a model trained on these photos from relying on perfectly clean pixels.

Photo treatments (data versions with ``treatment_weights``): some street photos are greyscale and some have a strong
white-balance cast (tungsten, shade, fluorescent). The stock image keeps the item's true colours, so a generator
trained on these pairs learns that colour comes from the photo only when the photo has colour, instead of inventing it
(issue #10: "a greyscale photo gains invented orange and blue stripes").

``compose_photo`` returns each photo's backdrop kind and treatment as ``meta``; the dataset writer records it in
items.jsonl for the data versions with ``photo_details``.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .backdrops import BACKDROPS, LUMA, random_colour
from .person import PersonLayer
from .versions import data_version as version_of

# White-balance errors: per-channel gains at full strength.
CASTS = {"warm": (1.2, 1.0, 0.7), "cool": (0.8, 0.97, 1.22), "green": (0.9, 1.13, 0.86), "magenta": (1.12, 0.86, 1.1)}


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
    col = random_colour(rng, (0.1, 0.5), (0.15, 0.7))
    return m, col


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

def choose_treatment(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """none, greyscale, or a named white-balance cast (``colour cast:warm``), drawn with ``weights``."""
    kind = str(rng.choice(list(weights), p=list(weights.values())))
    return f"colour cast:{rng.choice(list(CASTS))}" if kind == "colour cast" else kind


def apply_treatment(img: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The treatment ``kind`` (from ``choose_treatment``) applied to a float RGB image."""
    if kind == "greyscale":
        grey = img @ LUMA
        return np.repeat(grey[..., None], 3, axis=2)
    if kind.startswith("colour cast:"):
        gains = 1 + (np.array(CASTS[kind.split(":", 1)[1]], np.float32) - 1) * rng.uniform(0.5, 1.0)
        return img * gains[None, None]
    return img


def _region_luma(bg: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, box) -> tuple[float, float] | None:
    """(person luminance, backdrop luminance) inside ``box`` (x0, y0, x1, y1); rgb is premultiplied by alpha."""
    S = alpha.shape[0]
    x0, y0, x1, y1 = (int(np.clip(v, 0, S)) for v in box)
    a = alpha[y0:y1, x0:x1]
    if a.sum() < 4 or (1 - a).sum() < 4:
        return None
    person = float((rgb[y0:y1, x0:x1] @ LUMA).sum() / a.sum())
    around = float(((bg[y0:y1, x0:x1] @ LUMA) * (1 - a)).sum() / (1 - a).sum())
    return person, around


def _separate_in_grey(bg: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, kps: dict, h: float) -> np.ndarray:
    """Greyscale takes away the hue that tells a person from the wall behind them: mediapipe then misses dark faces on
    mid-grey backdrops (pose 0.79 on greyscale photos, measured) and grey clothes melt into grey walls (mask IoU 0.72).
    Scale the backdrop's brightness so the head and the body each differ from what is around them by at least 0.2 in
    luminance where a gain allows it (a photographer would not take the photo otherwise)."""
    nx, ny = kps["nose"]
    ys, xs = np.nonzero(alpha > 0.5)
    regions = [_region_luma(bg, rgb, alpha, (nx - h, ny - h, nx + h, ny + 0.6 * h)),
               _region_luma(bg, rgb, alpha, (xs.min() - 0.3 * h, ys.min(), xs.max() + 0.3 * h, ys.max()))]
    regions = [r for r in regions if r is not None]
    if not regions:
        return bg

    def margin(gain: float) -> float:
        return min(abs(min(around * gain, 1.0) - person) for person, around in regions)

    gains = (1.0, 0.55, 0.7, 0.85, 1.2, 1.45, 1.75)
    good = [g for g in gains if margin(g) >= 0.2]
    gain = good[0] if good else max(gains, key=margin)
    return bg if gain == 1.0 else np.clip(bg * gain, 0, 1)

def _sensor_noise(img: np.ndarray, rng: np.random.Generator, mono: bool, strength_first: bool) -> np.ndarray:
    """Gaussian sensor noise of a seeded strength; a monochrome sensor's noise is monochrome too (a greyscale photo's
    file stays exactly grey). ``strength_first``: the version's draw order (the files depend on it)."""
    shape = img.shape[:2] if mono else img.shape
    if strength_first:
        sigma = np.float32(rng.uniform(1.0, 4.0) / 255)
        noise = rng.standard_normal(shape, dtype=np.float32)
    else:
        noise = rng.standard_normal(shape, dtype=np.float32)
        sigma = np.float32(rng.uniform(1.0, 4.0) / 255)
    return img + (noise[..., None] if mono else noise) * sigma


def compose_photo(person: PersonLayer, rng: np.random.Generator, size: int, data_version: int = 1):
    """Person + backdrop + lighting + occluder + camera (+ treatment), as data version ``data_version`` draws them ->
    (PIL pre-JPEG, mask, keypoints, JPEG quality, meta {"background", "treatment"})."""
    version = version_of(data_version)
    S = size
    rgb, alpha, kps = _perspective(person, rng, S)
    h = person.head
    if rng.random() < version.bag_share:
        bag_m, bag_c = _bag(rng, kps, h, S)
        shade = 0.8 + 0.2 * cv2.GaussianBlur(bag_m, (0, 0), h * 0.15)
        rgb = rgb * (1 - bag_m[..., None]) + bag_c[None, None] * (bag_m * shade)[..., None]
        alpha = alpha + bag_m * (1 - alpha)
    ys, xs = np.nonzero(alpha > 0.5)
    box = (xs.min(), ys.min(), xs.max(), ys.max())
    feet_y = max(kps["left_ankle"][1], kps["right_ankle"][1]) + 0.3 * h
    treatment = choose_treatment(rng, version.treatment_weights) if version.treatment_weights else "none"
    bg, background = BACKDROPS[version.backdrop](rng, S, box, feet_y, person.garment_luma)
    if treatment == "greyscale":
        bg = _separate_in_grey(bg, rgb, alpha, kps, h)

    bg = contact_shadow(bg, rng, kps, feet_y, h)
    img = lighting(bg * (1 - alpha[..., None]) + rgb, rng)
    img = apply_treatment(img, treatment, rng)
    # Camera: lens blur, sensor noise; the JPEG quality is returned for the single real encode.
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.8))
    img = _sensor_noise(img, rng, mono=treatment == "greyscale", strength_first=version.noise_strength_first)
    out = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    quality = int(rng.integers(60, 91))
    return out, np.clip(alpha, 0, 1).astype(np.float32), kps, quality, {"background": background, "treatment": treatment}
