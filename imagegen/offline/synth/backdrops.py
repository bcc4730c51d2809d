"""Backdrops behind the drawn person, one per data version (``versions.DataVersion.backdrop``).

docs/FACTS.md rules both: mediapipe's selfie segmentation absorbs saturated blobs next to a person into the mask, so
backdrops are desaturated, thrown out of focus (a shallow depth of field) and their clutter is kept out of the
person's box (plus a margin); the backdrop also keeps some luminance contrast to the garment (pale on pale is lost).
Both are drawn at half resolution and scaled up: they are blurred anyway, and this halves their cost.

- ``calm``: a wall and floor with a texture (bricks, panels) and simple clutter (windows, doors, poles, plants,
  parked things), desaturated x0.35-0.75 and blurred 1-2.5 px (data version 1).
- ``photographic``: rooms, shops, streets, parks and a studio drawn in one-point perspective (a horizon at the
  camera's chest height, walls, floor planks, pavement and paths converging on a vanishing point), with furniture,
  clothes rails, windows, façades, trees and cars, a soft vignette, and Gaussian sigma 1.5-4 px at 384 px the way a
  portrait lens would blur them. Large surfaces (wall, floor, sky, grass) may pass behind the person (data version 2).

Each returns (float32 [size, size, 3] 0..1, kind).
"""
from __future__ import annotations

import colorsys

import cv2
import numpy as np
from PIL import Image, ImageDraw

LUMA = np.array([0.299, 0.587, 0.114], np.float32)

PHOTO_KINDS = ("indoor:room", "indoor:shop", "outdoor:street", "outdoor:park", "studio")
PHOTO_KIND_WEIGHTS = (0.27, 0.18, 0.27, 0.18, 0.10)


def _hsv(rng: np.random.Generator, sat, val) -> tuple[float, float, float]:
    return colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def _desaturate(img: np.ndarray, rng: np.random.Generator, lo: float, hi: float):
    """(img with its saturation scaled by a seeded factor in lo..hi, mean luminance before)."""
    grey = img @ LUMA
    return grey[..., None] + (img - grey[..., None]) * rng.uniform(lo, hi), float(grey.mean())


def _defocus(img: np.ndarray, mean_luma: float, avoid_luma: float, sigma: float, size: int) -> np.ndarray:
    """Keep contrast to the garment (darker behind a pale one, brighter behind a dark one), blur by ``sigma`` at
    half resolution, scale up to ``size``."""
    if abs(mean_luma - avoid_luma) < 0.15:
        img = img * (0.7 if avoid_luma > 0.45 else 1.35)
    img = cv2.GaussianBlur(np.clip(img, 0, 1).astype(np.float32), (0, 0), sigma)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


# ------------------------------------------------------------------------------------------------------- calm


def _lowfreq_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    small = rng.random((cells, cells)).astype(np.float32)
    return cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)


def random_colour(rng: np.random.Generator, sat=(0.1, 0.6), val=(0.25, 0.9)) -> np.ndarray:
    """A seeded colour, float32 RGB 0..1, of saturation and value in the given ranges."""
    return np.array(_hsv(rng, sat, val), np.float32)


def calm_backdrop(rng: np.random.Generator, size: int, box, feet_y: float, avoid_luma: float):
    """A calm backdrop: wall + floor, a texture, and clutter that stays outside ``box``."""
    full = size
    S = size // 2
    box = tuple(v / 2 for v in box)
    feet_y = feet_y / 2
    kind = rng.choice(["studio", "street", "interior", "park"], p=[0.2, 0.35, 0.25, 0.2])
    yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) / S
    wall = random_colour(rng)
    floor = random_colour(rng, (0.05, 0.4), (0.2, 0.8))
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
        col = tuple(int(c * 255) for c in random_colour(rng, (0.2, 0.9), (0.2, 0.95)))
        if kind == "park" or rng.random() < 0.3:
            d.ellipse([ox, oy, ox + w, oy + hgt], fill=col)
        else:
            d.rectangle([ox, oy, ox + w, oy + hgt], fill=col)
            if rng.random() < 0.5:  # a window frame
                d.rectangle([ox, oy, ox + w, oy + hgt], outline=tuple(int(c * 0.6) for c in col), width=3)
    img = np.asarray(canvas, np.float32) / 255.0

    # Desaturate (FACTS: x0.35-0.75) and keep some contrast to the garment (pale on pale is lost).
    img, mean = _desaturate(img, rng, 0.35, 0.75)
    return _defocus(img, mean, avoid_luma, rng.uniform(1.0, 2.5) / 2, full), str(kind)


# ------------------------------------------------------------------------------------------------------- photographic


def _col(rng: np.random.Generator, sat=(0.05, 0.45), val=(0.3, 0.85)) -> tuple[int, int, int]:
    r, g, b = _hsv(rng, sat, val)
    return int(r * 255), int(g * 255), int(b * 255)


def _shade(c, f: float) -> tuple[int, int, int]:
    return tuple(int(np.clip(v * f, 0, 255)) for v in c)


class _Scene:
    """A half-resolution PIL canvas plus the person's keep-out box and the perspective of the camera."""

    def __init__(self, rng: np.random.Generator, size: int, box, feet_y: float):
        self.rng = rng
        self.S = size
        self.img = Image.new("RGB", (size, size))
        self.d = ImageDraw.Draw(self.img)
        x0, y0, x1, y1 = box
        pad = 0.05 * size
        self.box = (x0 - pad, y0 - pad, x1 + pad, y1 + pad)
        self.feet = feet_y
        self.horizon = y0 + (feet_y - y0) * rng.uniform(0.38, 0.6)  # the camera at chest to hip height
        self.vx = (x0 + x1) / 2 + rng.uniform(-0.25, 0.25) * size

    def free(self, x0, y0, x1, y1) -> bool:
        """True when the rectangle stays clear of the person's box (clutter must not touch the person)."""
        bx0, by0, bx1, by1 = self.box
        return x1 < bx0 or x0 > bx1 or y1 < by0 or y0 > by1

    def toward_vp(self, x: float, y: float, y_to: float) -> float:
        """x of the line from (x, y) towards the vanishing point, at height y_to."""
        if abs(y - self.horizon) < 1e-3:
            return x
        return self.vx + (x - self.vx) * (y_to - self.horizon) / (y - self.horizon)

    def gradient(self, y0: float, y1: float, c0, c1) -> None:
        for y in range(int(max(y0, 0)), int(min(y1, self.S))):
            t = (y - y0) / max(y1 - y0, 1)
            self.d.line([(0, y), (self.S, y)], fill=tuple(int(a + (b - a) * t) for a, b in zip(c0, c1)))

    def floor_lines(self, y_from: float, colour, spacing: float, cross: bool) -> None:
        """Planks, tiles or paving: lines converging on the vanishing point (and cross joints that get denser)."""
        S = self.S
        for k in range(-40, 41):
            xb = self.vx + k * spacing
            self.d.line([(self.toward_vp(xb, S, y_from), y_from), (xb, S)], fill=colour, width=1)
        if cross:
            y = y_from + 2
            step = 2.0
            while y < S:
                self.d.line([(0, y), (S, y)], fill=colour, width=1)
                step *= 1.35
                y += step

    # ------------------------------------------------------------------------------------------- objects

    def window(self, x0, y0, w, h) -> None:
        if not self.free(x0, y0, x0 + w, y0 + h):
            return
        rng = self.rng
        sky = (int(rng.uniform(170, 225)), int(rng.uniform(195, 235)), int(rng.uniform(215, 245)))
        frame = _col(rng, (0, 0.15), (0.75, 0.95))
        self.d.rectangle([x0, y0, x0 + w, y0 + h], fill=sky, outline=frame, width=max(int(w * 0.06), 2))
        self.d.line([(x0 + w / 2, y0), (x0 + w / 2, y0 + h)], fill=frame, width=max(int(w * 0.04), 1))
        if rng.random() < 0.6:
            self.d.line([(x0, y0 + h / 2), (x0 + w, y0 + h / 2)], fill=frame, width=max(int(w * 0.04), 1))

    def shelf(self, x0, y0, w, h) -> None:
        if not self.free(x0, y0, x0 + w, y0 + h):
            return
        rng = self.rng
        wood = _col(rng, (0.3, 0.55), (0.3, 0.6))
        self.d.rectangle([x0, y0, x0 + w, y0 + h], fill=_shade(wood, 0.7))
        rows = int(rng.integers(2, 5))
        for r in range(rows):
            yb = y0 + (r + 1) * h / rows
            x = x0 + 2
            while x < x0 + w - 3:
                bw = rng.uniform(0.02, 0.05) * self.S * 0.5
                bh = rng.uniform(0.5, 0.9) * h / rows
                self.d.rectangle([x, yb - bh, x + bw, yb - 2], fill=_col(rng, (0.2, 0.6), (0.3, 0.8)))
                x += bw + 1
            self.d.line([(x0, yb), (x0 + w, yb)], fill=wood, width=2)

    def sofa(self, x0, y1, w, h) -> None:
        y0 = y1 - h
        if not self.free(x0, y0, x0 + w, y1):
            return
        c = _col(self.rng, (0.1, 0.5), (0.25, 0.7))
        self.d.rounded_rectangle([x0, y0, x0 + w, y1], radius=int(h * 0.2), fill=c)
        self.d.rounded_rectangle([x0 + w * 0.08, y0 + h * 0.35, x0 + w * 0.92, y1 - h * 0.1], radius=int(h * 0.15),
                                 fill=_shade(c, 1.15))

    def plant(self, cx, y1, h) -> None:
        w = h * 0.6
        if not self.free(cx - w, y1 - h, cx + w, y1):
            return
        rng = self.rng
        self.d.rectangle([cx - w * 0.3, y1 - h * 0.3, cx + w * 0.3, y1], fill=_col(rng, (0.1, 0.4), (0.3, 0.7)))
        for _ in range(int(rng.integers(5, 10))):
            r = rng.uniform(0.12, 0.25) * h
            x, y = cx + rng.uniform(-0.4, 0.4) * w, y1 - h * 0.3 - rng.uniform(0.1, 0.65) * h
            self.d.ellipse([x - r, y - r, x + r, y + r], fill=(int(rng.uniform(40, 80)), int(rng.uniform(90, 140)),
                                                               int(rng.uniform(40, 80))))

    def lamp(self, cx, y1, h) -> None:
        if not self.free(cx - h * 0.25, y1 - h, cx + h * 0.25, y1):
            return
        self.d.line([(cx, y1), (cx, y1 - h * 0.85)], fill=(40, 40, 40), width=2)
        shade = _col(self.rng, (0.05, 0.3), (0.75, 0.95))
        top = y1 - h
        self.d.polygon([(cx - h * 0.12, top), (cx + h * 0.12, top), (cx + h * 0.2, top + h * 0.22), (cx - h * 0.2, top + h * 0.22)],
                       fill=shade)

    def frame(self, x0, y0, w, h) -> None:
        if not self.free(x0, y0, x0 + w, y0 + h):
            return
        rng = self.rng
        self.d.rectangle([x0, y0, x0 + w, y0 + h], fill=_col(rng, (0, 0.3), (0.15, 0.9)))
        self.d.rectangle([x0 + w * 0.12, y0 + h * 0.12, x0 + w * 0.88, y0 + h * 0.88], fill=_col(rng, (0.1, 0.5), (0.3, 0.9)))

    def rail(self, x0, y0, w, h) -> None:
        """A clothes rail with hanging garments (a shop)."""
        if not self.free(x0, y0, x0 + w, y0 + h):
            return
        rng = self.rng
        self.d.line([(x0, y0), (x0 + w, y0)], fill=(70, 70, 75), width=3)
        x = x0 + 2
        while x < x0 + w - 4:
            gw = rng.uniform(0.012, 0.03) * self.S
            gh = rng.uniform(0.55, 1.0) * h
            self.d.rectangle([x, y0 + 2, x + gw, y0 + gh], fill=_col(rng, (0.1, 0.55), (0.25, 0.9)))
            x += gw * rng.uniform(0.55, 0.9)

    def tree(self, cx, y1, h) -> None:
        w = h * 0.5
        if not self.free(cx - w, y1 - h, cx + w, y1):
            return
        rng = self.rng
        self.d.rectangle([cx - h * 0.03, y1 - h * 0.5, cx + h * 0.03, y1], fill=(70, 52, 38))
        for _ in range(int(rng.integers(6, 12))):
            r = rng.uniform(0.12, 0.22) * h
            x, y = cx + rng.uniform(-0.3, 0.3) * h, y1 - h * rng.uniform(0.5, 0.85)
            g = int(rng.uniform(80, 130))
            self.d.ellipse([x - r, y - r, x + r, y + r], fill=(int(g * rng.uniform(0.4, 0.7)), g, int(g * rng.uniform(0.3, 0.6))))

    def car(self, x0, y1, w) -> None:
        h = w * 0.42
        if not self.free(x0, y1 - h, x0 + w, y1):
            return
        c = _col(self.rng, (0.1, 0.6), (0.2, 0.85))
        self.d.rounded_rectangle([x0, y1 - h * 0.65, x0 + w, y1 - h * 0.15], radius=int(h * 0.12), fill=c)
        self.d.polygon([(x0 + w * 0.2, y1 - h * 0.65), (x0 + w * 0.32, y1 - h), (x0 + w * 0.7, y1 - h), (x0 + w * 0.82, y1 - h * 0.65)],
                       fill=_shade(c, 0.9))
        self.d.polygon([(x0 + w * 0.25, y1 - h * 0.66), (x0 + w * 0.34, y1 - h * 0.92), (x0 + w * 0.68, y1 - h * 0.92),
                        (x0 + w * 0.77, y1 - h * 0.66)], fill=(150, 170, 185))
        for xc in (x0 + w * 0.22, x0 + w * 0.78):
            r = h * 0.2
            self.d.ellipse([xc - r, y1 - 2 * r, xc + r, y1], fill=(25, 25, 25))

    def facade(self, x0, x1, top, bottom) -> None:
        rng = self.rng
        c = _col(rng, (0.05, 0.35), (0.35, 0.85))
        self.d.rectangle([x0, top, x1, bottom], fill=c)
        ww, wh = rng.uniform(0.03, 0.06) * self.S, rng.uniform(0.04, 0.08) * self.S
        gx, gy = ww * rng.uniform(1.5, 2.3), wh * rng.uniform(1.5, 2.2)
        glass = _shade(_col(rng, (0.05, 0.25), (0.3, 0.6)), 1.0)
        y = top + gy * 0.5
        while y + wh < bottom - wh * 0.5:
            x = x0 + gx * 0.4
            while x + ww < x1 - 2:
                self.d.rectangle([x, y, x + ww, y + wh], fill=glass, outline=_shade(c, 0.75))
                x += gx
            y += gy

    # ------------------------------------------------------------------------------------------- whole scenes

    def room(self, shop: bool) -> None:
        rng, S = self.rng, self.S
        wall = _col(rng, (0.03, 0.3), (0.55, 0.92))
        by1 = self.horizon + (self.feet - self.horizon) * rng.uniform(0.25, 0.6)   # back wall meets the floor
        by0 = rng.uniform(-0.05, 0.12) * S                                          # and the ceiling
        bx0, bx1 = rng.uniform(0.02, 0.3) * S, rng.uniform(0.7, 0.98) * S
        floor = _col(rng, (0.2, 0.5), (0.3, 0.65)) if not shop else _col(rng, (0.0, 0.12), (0.55, 0.85))
        self.d.rectangle([0, 0, S, S], fill=_shade(wall, 0.92))
        self.d.rectangle([0, by1, S, S], fill=floor)
        self.floor_lines(by1, _shade(floor, 0.82), rng.uniform(0.04, 0.09) * S, cross=shop)
        # Side walls and ceiling in perspective (darker: lit from the front).
        for xb, sign in ((bx0, -1), (bx1, 1)):
            edge = 0 if sign < 0 else S
            y_floor = self.horizon + (by1 - self.horizon) * (edge - self.vx) / (xb - self.vx) if xb != self.vx else S
            y_ceil = self.horizon + (by0 - self.horizon) * (edge - self.vx) / (xb - self.vx) if xb != self.vx else 0
            self.d.polygon([(xb, by0), (xb, by1), (edge, y_floor), (edge, y_ceil)], fill=_shade(wall, rng.uniform(0.7, 0.85)))
        self.d.rectangle([bx0, by0, bx1, by1], fill=wall)
        self.d.line([(bx0, by1), (bx1, by1)], fill=_shade(wall, 0.6), width=2)  # skirting board
        if by0 > 0:
            self.d.rectangle([bx0, 0, bx1, by0], fill=_shade(wall, 1.08))
        wall_h = by1 - by0
        for _ in range(int(rng.integers(3, 8))):
            kind = rng.random()
            x = rng.uniform(bx0, bx1)
            if shop:
                if kind < 0.6:
                    self.rail(x, by0 + wall_h * rng.uniform(0.15, 0.35), rng.uniform(0.12, 0.3) * S, wall_h * 0.45)
                elif kind < 0.85:
                    self.shelf(x, by0 + wall_h * 0.2, rng.uniform(0.08, 0.18) * S, wall_h * 0.6)
                else:
                    self.frame(x, by0 + wall_h * 0.1, rng.uniform(0.1, 0.2) * S, wall_h * 0.2)
            elif kind < 0.25:
                self.window(x, by0 + wall_h * rng.uniform(0.1, 0.25), rng.uniform(0.1, 0.22) * S, wall_h * rng.uniform(0.35, 0.55))
            elif kind < 0.45:
                self.sofa(x, by1 + rng.uniform(0, 0.03) * S, rng.uniform(0.18, 0.35) * S, wall_h * rng.uniform(0.25, 0.4))
            elif kind < 0.6:
                self.shelf(x, by0 + wall_h * rng.uniform(0.2, 0.4), rng.uniform(0.08, 0.16) * S, wall_h * rng.uniform(0.3, 0.6))
            elif kind < 0.75:
                self.plant(x, by1 + rng.uniform(0, 0.05) * S, wall_h * rng.uniform(0.3, 0.6))
            elif kind < 0.87:
                self.lamp(x, by1, wall_h * rng.uniform(0.5, 0.8))
            else:
                self.frame(x, by0 + wall_h * rng.uniform(0.15, 0.3), rng.uniform(0.06, 0.14) * S, wall_h * rng.uniform(0.12, 0.25))

    def street(self) -> None:
        rng, S = self.rng, self.S
        ground = self.horizon + (self.feet - self.horizon) * rng.uniform(0.15, 0.45)
        self.gradient(0, ground, (int(rng.uniform(120, 170)), int(rng.uniform(160, 200)), int(rng.uniform(200, 235))),
                      (int(rng.uniform(200, 230)),) * 3)
        pave = _col(rng, (0.0, 0.1), (0.45, 0.7))
        self.d.rectangle([0, ground, S, S], fill=pave)
        self.floor_lines(ground, _shade(pave, 0.85), rng.uniform(0.06, 0.12) * S, cross=True)
        x = rng.uniform(-0.2, 0) * S
        while x < S:
            w = rng.uniform(0.18, 0.45) * S
            self.facade(x, x + w, rng.uniform(-0.1, 0.35) * ground, ground)
            x += w
        for _ in range(int(rng.integers(1, 5))):
            kind = rng.random()
            x = rng.uniform(-0.1, 1.0) * S
            if kind < 0.45:
                self.tree(x, ground + rng.uniform(0, 0.1) * S, rng.uniform(0.3, 0.6) * S)
            elif kind < 0.8:
                self.car(x, ground + rng.uniform(0.02, 0.12) * S, rng.uniform(0.2, 0.35) * S)
            else:
                self.d.line([(x, ground + 0.05 * S), (x, ground - 0.4 * S)], fill=(55, 58, 60), width=3)  # lamp post

    def park(self) -> None:
        rng, S = self.rng, self.S
        ground = self.horizon + (self.feet - self.horizon) * rng.uniform(0.05, 0.3)
        self.gradient(0, ground, (int(rng.uniform(110, 160)), int(rng.uniform(160, 200)), int(rng.uniform(210, 240))),
                      (int(rng.uniform(200, 230)), int(rng.uniform(215, 235)), int(rng.uniform(220, 240))))
        self.gradient(ground, S, (int(rng.uniform(90, 130)), int(rng.uniform(130, 160)), int(rng.uniform(70, 100))),
                      (int(rng.uniform(60, 90)), int(rng.uniform(100, 130)), int(rng.uniform(40, 70))))
        for _ in range(int(rng.integers(12, 24))):  # distant tree line along the horizon (it may pass behind)
            r = rng.uniform(0.04, 0.1) * S
            x = rng.uniform(0, 1) * S
            g = int(rng.uniform(60, 100))
            self.d.ellipse([x - r, ground - r * rng.uniform(1.0, 1.8), x + r, ground + r * 0.3],
                           fill=(int(g * 0.6), g, int(g * 0.5)))
        path = _col(rng, (0.1, 0.3), (0.6, 0.8))
        w = rng.uniform(0.2, 0.5) * S
        self.d.polygon([(self.vx - 2, ground), (self.vx + 2, ground), (self.vx + w, S), (self.vx - w, S)], fill=path)
        for _ in range(int(rng.integers(1, 5))):
            x = rng.uniform(-0.1, 1.0) * S
            if rng.random() < 0.7:
                self.tree(x, ground + rng.uniform(0, 0.15) * S, rng.uniform(0.35, 0.7) * S)
            else:
                self.plant(x, ground + rng.uniform(0.05, 0.2) * S, rng.uniform(0.1, 0.2) * S)

    def studio(self) -> None:
        rng, S = self.rng, self.S
        c = _col(rng, (0.0, 0.25), (0.5, 0.9))
        self.gradient(0, S, _shade(c, 1.05), _shade(c, 0.8))


def photographic_backdrop(rng: np.random.Generator, size: int, box, feet_y: float, avoid_luma: float):
    """An out-of-focus indoor or outdoor scene behind the person's ``box``."""
    kind = str(rng.choice(PHOTO_KINDS, p=PHOTO_KIND_WEIGHTS))
    half = size // 2
    scene = _Scene(rng, half, tuple(v / 2 for v in box), feet_y / 2)
    if kind.startswith("indoor"):
        scene.room(shop=kind.endswith("shop"))
    elif kind == "outdoor:street":
        scene.street()
    elif kind == "outdoor:park":
        scene.park()
    else:
        scene.studio()
    img, mean = _desaturate(np.asarray(scene.img, np.float32) / 255.0, rng, 0.4, 0.8)
    # Light falls off away from the person (a soft vignette) and the scene is a stop or so darker or brighter.
    yy, xx = np.mgrid[0:half, 0:half].astype(np.float32) / half
    cx, cy = (box[0] + box[2]) / 2 / size, (box[1] + box[3]) / 2 / size
    img = img * (1 - rng.uniform(0.05, 0.25) * ((xx - cx) ** 2 + (yy - cy) ** 2))[..., None] * rng.uniform(0.85, 1.1)
    return _defocus(img, mean, avoid_luma, rng.uniform(1.5, 4.0) * size / 384 / 2, size), kind


BACKDROPS = {"calm": calm_backdrop, "photographic": photographic_backdrop}
