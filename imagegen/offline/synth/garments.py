"""Catalogue items: a seeded garment spec and its flat, catalogue-style rendering.

Why a *canvas*: every garment is first painted onto a flat 640 x 640 "sewing pattern" canvas
(pattern texture + silhouette alpha + a part-id map saying which panel each pixel belongs to).
The stock image is that canvas cropped and scaled onto white; the street photo warps the very
same canvas panels onto the body (see ``person.py``). Colour, pattern, neckline and sleeve
length therefore match between stock and photo by construction, which is what photo -> stock
retrieval is trained and judged on.

Canvas geometry is calibrated to the drawn person: ``CANVAS_HEAD`` canvas pixels = one head
height, so sleeve and leg panels have the body's proportions.
"""
from __future__ import annotations

import colorsys
import math
import zlib
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

CANVAS = 640
CANVAS_HEAD = 130.0  # canvas pixels per head height (the person is 7.5 heads tall)

# Named palette: the names end up in titles and in items.jsonl, so keep them shopper words.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (200, 32, 42), "burgundy": (118, 22, 42), "coral": (242, 112, 92),
    "orange": (238, 122, 32), "mustard": (212, 168, 40), "yellow": (244, 214, 62),
    "olive": (108, 114, 50), "green": (38, 138, 70), "mint": (150, 218, 186),
    "teal": (20, 128, 130), "sky blue": (112, 172, 226), "royal blue": (40, 72, 190),
    "navy": (26, 36, 82), "purple": (108, 58, 150), "lavender": (182, 162, 222),
    "pink": (240, 140, 172), "brown": (110, 70, 40), "beige": (214, 194, 158),
    "grey": (132, 132, 136), "charcoal": (58, 60, 66), "black": (26, 26, 30),
    "white": (244, 244, 240),
}

TOP_CUTS = ("t-shirt", "long sleeve", "tank", "hoodie")
BOTTOM_CUTS = ("trousers", "shorts")
PATTERNS = ("solid", "stripes", "checks", "dots", "motif", "colour blocks")
# Solid is rarer than in real catalogues: plain items collide across a few thousand items.
PATTERN_WEIGHTS = (0.12, 0.22, 0.18, 0.16, 0.16, 0.16)
MOTIFS = ("star", "heart", "circle", "diamond")
NECKLINES = ("crew", "v-neck", "none")

# Part ids on the canvas (0 = no garment). Photos warp each part onto one body segment.
TORSO, R_UPPER, R_LOWER, L_UPPER, L_LOWER = 1, 2, 3, 4, 5
PELVIS, R_THIGH, R_SHIN, L_THIGH, L_SHIN = 6, 7, 8, 9, 10


@dataclass(frozen=True)
class Segment:
    """A panel as a centreline a->b with widths w0 (at a) and w1 (at b), in canvas pixels.

    The person renderer defines the same segment on the body; a pixel's (along, across)
    coordinates are shared by both, which is the whole warp.
    """
    a: tuple[float, float]
    b: tuple[float, float]
    w0: float
    w1: float

    def polygon(self, t0: float = 0.0, t1: float = 1.0, grow: float = 0.0) -> list[tuple[float, float]]:
        ax, ay = self.a
        bx, by = self.b
        dx, dy = bx - ax, by - ay
        length = math.hypot(dx, dy) or 1.0
        dx, dy = dx / length, dy / length
        nx, ny = -dy, dx
        pts = []
        for t, sign in ((t0, 1), (t0, -1), (t1, -1), (t1, 1)):
            w = (self.w0 + (self.w1 - self.w0) * t) / 2 + grow
            pts.append((ax + dx * length * t + sign * nx * w, ay + dy * length * t + sign * ny * w))
        return pts


@dataclass(frozen=True)
class ItemSpec:
    """Everything that makes one catalogue item look the way it does (seeded, hashable)."""
    item_id: str
    garment: str            # "top" | "bottom"
    cut: str                # t-shirt, long sleeve, tank, hoodie, trousers, shorts
    colour: str             # palette name
    rgb: tuple[int, int, int]   # the actual shade (palette colour jittered)
    pattern: str
    secondary: str          # palette name of the pattern colour
    secondary_rgb: tuple[int, int, int]
    neckline: str           # crew, v-neck, none (bottoms: none)
    pattern_scale: float = 1.0   # stripe period / check cell / dot spacing, in canvas px / 40
    pattern_variant: int = 0     # orientation / motif kind / block layout
    motif: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    data_version: int = 1        # 2: whole garments, skirts, fabric texture (garments_v2); 1 stays byte-identical

    @property
    def title(self) -> str:
        pattern_word = {"solid": "", "stripes": "striped", "checks": "checked", "dots": "polka-dot",
                        "motif": f"{self.motif}-print", "colour blocks": "colour-block"}[self.pattern]
        neck = {"crew": "crew-neck", "v-neck": "V-neck", "none": ""}[self.neckline]
        if self.cut in ("hoodie", "tank") or self.garment == "bottom":
            neck = ""
        words = [self.colour.capitalize(), pattern_word, neck, self.cut]
        if self.pattern in ("stripes", "checks", "dots", "colour blocks", "motif"):
            words.insert(1, f"and {self.secondary}")
        return " ".join(w for w in words if w)

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("extra", None)
        if self.data_version == 1:  # v1 items.jsonl stays exactly as it was
            d.pop("data_version", None)
        d.update(title=self.title, category=self.garment, rgb=list(self.rgb), secondary_rgb=list(self.secondary_rgb))
        return d


def _luma(rgb) -> float:
    r, g, b = (c / 255.0 for c in rgb)
    return 0.299 * r + 0.587 * g + 0.114 * b


def _jitter_shade(rgb, rng: np.random.Generator) -> tuple[int, int, int]:
    """Vary a named colour a little (lightness / saturation) so items of one name still differ."""
    h, l, s = colorsys.rgb_to_hls(*(c / 255.0 for c in rgb))
    l = float(np.clip(l + rng.uniform(-0.07, 0.07), 0.06, 0.95))
    s = float(np.clip(s * rng.uniform(0.85, 1.1), 0, 1))
    h = (h + rng.uniform(-0.015, 0.015)) % 1.0
    return tuple(int(round(c * 255)) for c in colorsys.hls_to_rgb(h, l, s))


def _contrasting(rng: np.random.Generator, base: str) -> str:
    """A second palette colour that reads as clearly different from the base colour."""
    b = PALETTE[base]
    names = [n for n in PALETTE if n != base]
    scores = np.array([abs(_luma(PALETTE[n]) - _luma(b)) + 0.4 * np.linalg.norm(np.subtract(PALETTE[n], b)) / 441
                       for n in names])
    good = [n for n, s in zip(names, scores) if s > 0.28]
    return str(rng.choice(good or names))


def make_item(seed: int, index: int, data_version: int = 1) -> ItemSpec:
    """The catalogue item number ``index`` of dataset ``seed``; depends on nothing else.

    ``data_version`` 2 draws from the wider v2 catalogue (``garments_v2.make_item_v2``: dresses, jumpsuits, skirts);
    1, the default, is the catalogue the shipped generator and embedder were trained on."""
    if int(data_version) == 2:
        from .garments_v2 import make_item_v2
        return make_item_v2(seed, index)
    if int(data_version) != 1:
        raise ValueError(f"data_version must be 1 or 2, got {data_version!r}")
    rng = np.random.default_rng([int(seed), int(index), 0x17E3])
    garment = "top" if rng.random() < 0.62 else "bottom"
    cut = str(rng.choice(TOP_CUTS, p=[0.36, 0.24, 0.16, 0.24]) if garment == "top"
              else rng.choice(BOTTOM_CUTS, p=[0.72, 0.28]))
    colour = str(rng.choice(list(PALETTE)))
    pattern = str(rng.choice(PATTERNS, p=PATTERN_WEIGHTS))
    secondary = _contrasting(rng, colour)
    if garment == "top" and cut in ("t-shirt", "long sleeve"):
        neckline = str(rng.choice(NECKLINES[:2], p=[0.65, 0.35]))
    elif garment == "top":
        neckline = "crew" if cut == "hoodie" else "none"
    else:
        neckline = "none"
    variant = int(rng.integers(0, 4))
    motif = str(rng.choice(MOTIFS)) if pattern == "motif" else ""
    return ItemSpec(
        item_id=f"{index:06d}", garment=garment, cut=cut, colour=colour,
        rgb=_jitter_shade(PALETTE[colour], rng), pattern=pattern, secondary=secondary,
        secondary_rgb=_jitter_shade(PALETTE[secondary], rng), neckline=neckline,
        pattern_scale=float(np.round(rng.uniform(0.75, 1.35), 3)), pattern_variant=variant, motif=motif)


def plain_item(rng: np.random.Generator, garment: str) -> ItemSpec:
    """The *other* garment a model wears (plain, muted, never the product being sold)."""
    if garment == "bottom":
        name = str(rng.choice(["navy", "charcoal", "black", "grey", "brown", "olive", "royal blue", "beige"]))
        cut = "trousers"
    else:
        name = str(rng.choice(["white", "grey", "black", "charcoal", "navy", "beige", "sky blue", "olive"]))
        cut = str(rng.choice(["t-shirt", "t-shirt", "long sleeve", "tank"]))
    rgb = PALETTE[name]  # no jitter: a few dozen plain garments, each canvas built once per process
    return ItemSpec(item_id="plain", garment=garment, cut=cut, colour=name, rgb=rgb, pattern="solid",
                    secondary=name, secondary_rgb=rgb, neckline="crew" if garment == "top" and cut != "tank" else "none")


# ----------------------------------------------------------------------------------------
# Canvas layout: the flat panels, in canvas pixels. Both the stock image and the photo use it.

def top_segments(cut: str) -> dict[int, tuple[Segment, float]]:
    """Panels of a top: {part id: (segment, fraction of the segment the fabric covers)}."""
    h = CANVAS_HEAD
    torso = Segment((320, 150), (320, 150 + 2.75 * h), 250, 232)
    segs = {TORSO: (torso, 1.0)}
    if cut == "tank":
        return segs
    # Long sleeves hang closer to the body in a flat lay, short sleeves stick out.
    ang = math.radians(22 if cut in ("long sleeve", "hoodie") else 48)
    cover_upper = 1.0 if cut in ("long sleeve", "hoodie") else 0.55
    for side, (pu, pl) in ((-1, (R_UPPER, R_LOWER)), (1, (L_UPPER, L_LOWER))):
        sx, sy = 320 + side * 108, 168
        d = (side * math.sin(ang), math.cos(ang))
        ex, ey = sx + d[0] * 1.4 * h, sy + d[1] * 1.4 * h
        wx, wy = ex + d[0] * 1.15 * h, ey + d[1] * 1.15 * h
        segs[pu] = (Segment((sx, sy), (ex, ey), 0.78 * h, 0.6 * h), cover_upper)
        if cut in ("long sleeve", "hoodie"):
            segs[pl] = (Segment((ex, ey), (wx, wy), 0.6 * h, 0.5 * h), 1.0)
    return segs


def bottom_segments(cut: str) -> dict[int, tuple[Segment, float]]:
    h = CANVAS_HEAD
    waist, hip = 60.0, 60.0 + 0.5 * h
    knee, ankle = hip + 1.7 * h, hip + 3.2 * h
    cover = 1.0 if cut == "trousers" else 0.55
    segs = {PELVIS: (Segment((320, waist), (320, hip + 0.45 * h), 1.75 * h, 1.85 * h), 1.0)}
    for side, (pt, ps) in ((-1, (R_THIGH, R_SHIN)), (1, (L_THIGH, L_SHIN))):
        x = 320 + side * 0.46 * h
        segs[pt] = (Segment((x, hip), (x + side * 0.06 * h, knee), 0.92 * h, 0.62 * h), cover)
        if cut == "trousers":
            segs[ps] = (Segment((x + side * 0.06 * h, knee), (x + side * 0.1 * h, ankle + 0.08 * h), 0.62 * h, 0.52 * h), 1.0)
    return segs


def segments_for(spec: ItemSpec) -> dict[int, tuple[Segment, float]]:
    return top_segments(spec.cut) if spec.garment == "top" else bottom_segments(spec.cut)


# ----------------------------------------------------------------------------------------
# Pattern texture (full canvas) and silhouette.

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


def pattern_texture(spec: ItemSpec) -> np.ndarray:
    """The fabric, float32 [CANVAS, CANVAS, 3] in 0..1, before cutting out the silhouette."""
    n = CANVAS
    base = np.asarray(spec.rgb, np.float32) / 255.0
    sec = np.asarray(spec.secondary_rgb, np.float32) / 255.0
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    s = spec.pattern_scale
    w = np.zeros((n, n), np.float32)  # weight of the secondary colour
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
    tex = base[None, None, :] * (1 - w[..., None]) + sec[None, None, :] * w[..., None]
    # A little fabric grain so flat colours are not perfectly synthetic.
    grain = np.random.default_rng(zlib.crc32(spec.item_id.encode())).normal(0, 0.008, (n // 4, n // 4))
    grain = np.kron(grain, np.ones((4, 4), np.float32))[:n, :n].astype(np.float32)
    return np.clip(tex + grain[..., None], 0, 1).astype(np.float32)


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
            import cv2
            n = CANVAS // k
            self._levels[k] = (cv2.resize(self.rgb, (n, n), interpolation=cv2.INTER_AREA),
                               cv2.resize(self.alpha, (n, n), interpolation=cv2.INTER_AREA))
        return self._levels[k]


def _neck_hole(draw: ImageDraw.ImageDraw, spec: ItemSpec, fill: int) -> None:
    cx, cy = 320, 150
    if spec.cut == "tank":
        draw.ellipse([cx - 78, cy - 70, cx + 78, cy + 95], fill=fill)
    elif spec.neckline == "v-neck":
        draw.polygon([(cx - 44, cy - 30), (cx + 44, cy - 30), (cx, cy + 100)], fill=fill)
    else:
        draw.ellipse([cx - 46, cy - 30, cx + 46, cy + 30], fill=fill)


def build_canvas(spec: ItemSpec) -> Canvas:
    """Paint the flat garment: panels, neckline, trims (ribbing, seams, pockets)."""
    n = CANVAS
    segs = segments_for(spec)
    tex = pattern_texture(spec)
    part_img = Image.new("L", (n, n), 0)
    pd = ImageDraw.Draw(part_img)
    # Torso / pelvis first, limbs over them (limbs are drawn in front on the body too).
    for pid in sorted(segs):
        seg, cover = segs[pid]
        pd.polygon(seg.polygon(0.0, cover), fill=pid)
        if pid == TORSO and spec.cut == "tank":
            # Tank: narrow shoulder straps, deep armholes.
            pd.polygon(seg.polygon(0.0, 1.0), fill=pid)
            for side in (-1, 1):
                pd.ellipse([320 + side * 150 - 58, 120, 320 + side * 150 + 58, 150 + 0.95 * CANVAS_HEAD], fill=0)
    if spec.garment == "top":  # sloped shoulder seams (no square corners)
        for side in (-1, 1):
            pd.polygon([(320 + side * 58, 0), (320 + side * 58, 148), (320 + side * 140, 174),
                        (320 + side * 330, 236), (320 + side * 330, 0)], fill=0)
    if spec.cut == "hoodie":  # hood lying behind the neck
        pd.ellipse([320 - 92, 150 - 70, 320 + 92, 150 + 52], fill=TORSO)
    if spec.garment == "top":
        _neck_hole(pd, spec, 0)
    part = np.asarray(part_img, dtype=np.uint8).copy()
    alpha = (part > 0).astype(np.float32)

    # Trims: darker ribbing and seams drawn into the fabric so they show in photos too.
    trim = Image.new("L", (n, n), 0)
    td = ImageDraw.Draw(trim)
    if spec.garment == "top":
        if spec.cut != "tank":
            tmp = Image.new("L", (n, n), 0)
            _neck_hole(ImageDraw.Draw(tmp), spec, 255)
            import cv2
            grown = cv2.dilate(np.asarray(tmp), np.ones((15, 15), np.uint8))
            td.bitmap((0, 0), Image.fromarray(((grown > 0) & (np.asarray(tmp) == 0)).astype(np.uint8) * 255), fill=255)
        torso = segs[TORSO][0]
        p = torso.polygon(0.955, 1.0)
        td.polygon(p, fill=160)  # hem band
        for pid in (R_UPPER, L_UPPER, R_LOWER, L_LOWER):
            if pid in segs:
                seg, cover = segs[pid]
                last = pid in (R_LOWER, L_LOWER) or (pid in (R_UPPER, L_UPPER) and spec.cut in ("t-shirt",))
                if last:
                    td.polygon(seg.polygon(cover - 0.09, cover), fill=170)
        if spec.cut == "hoodie":  # kangaroo pocket and drawstrings
            y0 = 150 + 1.75 * CANVAS_HEAD
            td.line([(320 - 80, y0), (320 + 80, y0), (320 + 110, y0 + 95), (320 - 110, y0 + 95), (320 - 80, y0)], fill=200, width=4)
            for side in (-1, 1):
                td.line([(320 + side * 24, 175), (320 + side * 28, 270)], fill=255, width=5)
    else:
        pel = segs[PELVIS][0]
        td.polygon(pel.polygon(0.0, 0.2), fill=150)  # waistband
        td.line([(320, 60 + 30), (320, 60 + 0.6 * CANVAS_HEAD)], fill=140, width=3)  # fly
        for side in (-1, 1):
            td.arc([320 + side * 70 - 50, 60 - 10, 320 + side * 70 + 50, 60 + 90], 0 if side > 0 else 90,
                   90 if side > 0 else 180, fill=200, width=3)
        for pid in (R_SHIN, L_SHIN, R_THIGH, L_THIGH):
            if pid in segs and (pid in (R_SHIN, L_SHIN) or spec.cut == "shorts"):
                seg, cover = segs[pid]
                td.polygon(seg.polygon(cover - 0.06, cover), fill=120)
    trim_a = np.asarray(trim, np.float32)[..., None] / 255.0
    rgb = tex * (1 - 0.3 * trim_a)
    if spec.cut == "hoodie":
        strings = (np.asarray(trim) == 255)[..., None]
        rgb = np.where(strings, np.float32(0.92), rgb)
    return Canvas(rgb=(np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8), alpha=(alpha * 255).astype(np.uint8),
                  part=part, segments=segs)


@lru_cache(maxsize=48)
def canvas_for(spec: ItemSpec) -> Canvas:
    """Per-process cache: a worker renders several photos of one item from one canvas."""
    if spec.data_version == 2:
        from .garments_v2 import build_canvas_v2
        return build_canvas_v2(spec)
    return build_canvas(spec)


def render_stock(spec: ItemSpec, size: int = 256) -> Image.Image:
    """The catalogue photo: the garment laid flat, centred on pure white, evenly lit."""
    import cv2

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
