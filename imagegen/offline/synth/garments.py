"""Catalogue items: the seeded garment spec of every data version, and the flat panel layout of each cut.

Why *panels*: every garment is first painted onto a flat 640 x 640 "sewing pattern" canvas (``canvas.py``), and the
street photo warps the very same canvas panels onto the body (``fitting.py``). The layouts here say where each panel
lies on the canvas; the body-side layouts in ``fitting.py`` use the same part ids, so colour, pattern, neckline and
sleeve length match between stock image and photo by construction, which is what photo -> stock retrieval is trained
and judged on.

Canvas geometry is calibrated to the drawn person: ``CANVAS_HEAD`` canvas pixels = one head height, so sleeve and leg
panels have the body's proportions. Tops and bottoms (a skirt is one flared ``SKIRT`` panel in the bottom layout) use
that scale. A whole garment (dress, jumpsuit) spans shoulders to ankles, which does not fit a 640 px canvas at 130 px
per head, so it is laid out at ``WHOLE_HEAD`` px per head: the top layout and the bottom layout are scaled by
``K = WHOLE_HEAD / CANVAS_HEAD`` and stacked (``top_to_whole`` and ``bottom_to_whole`` map their coordinates), the
bottom layout's waist landing at body height ``BODY_WAIST_Y`` head units below the crown.

What each data version's catalogue holds (garments, cuts and their shares, necklines) is its row in ``versions.py``.
"""
from __future__ import annotations

import colorsys
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from .versions import data_version as version_of

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

PATTERNS = ("solid", "stripes", "checks", "dots", "motif", "colour blocks")
# Solid is rarer than in real catalogues: plain items collide across a few thousand items.
PATTERN_WEIGHTS = (0.12, 0.22, 0.18, 0.16, 0.16, 0.16)
MOTIFS = ("star", "heart", "circle", "diamond")
NECKLINES = ("crew", "v-neck", "none")
NECKED_CUTS = ("t-shirt", "long sleeve", "dress", "jumpsuit")  # drawn with a crew or V neckline

# Part ids on the canvas (0 = no garment). Photos warp each part onto one body segment.
TORSO, R_UPPER, R_LOWER, L_UPPER, L_LOWER = 1, 2, 3, 4, 5
PELVIS, R_THIGH, R_SHIN, L_THIGH, L_SHIN = 6, 7, 8, 9, 10
SKIRT = 11  # a skirt, or a dress below the waist

# Whole garments: their canvas scale, and where the top and bottom layouts land on the body (head units from the crown).
WHOLE_HEAD = 100.0
K = WHOLE_HEAD / CANVAS_HEAD
WHOLE_TOP_Y = 20.0          # canvas y of the top of the shoulders (body 1.18 head units below the crown)
BODY_TORSO_TOP = 1.18       # where the top layout's torso panel starts on the body
BODY_WAIST_Y = 3.45         # where the bottom layout's waistband (y = 60) sits on the body
DRESS_WAIST = 3.2           # dress bodice ends / skirt starts
DRESS_HEM = 6.0             # knee length (knees are at 5.65)
SKIRT_HEM = 5.85
JUMPSUIT_TORSO_END = 3.7


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
    garment: str            # "top" | "bottom" | "whole"
    cut: str                # a cut of the garment (versions.py lists each version's)
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
    data_version: int = 1        # the data version the item belongs to; its photos are drawn the same version's way

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
        if not version_of(self.data_version).photo_details:  # v1 items.jsonl stays exactly as it was
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


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    """One key of ``weights``, drawn with those shares (one uniform draw)."""
    return str(rng.choice(list(weights), p=list(weights.values())))


def make_item(seed: int, index: int, data_version: int = 1) -> ItemSpec:
    """The catalogue item number ``index`` of dataset ``seed`` in data version ``data_version``; depends on nothing else.

    1, the default, is the catalogue the shipped generator and embedder were trained on (tops and bottoms); 2 adds
    skirts, dresses and jumpsuits. ValueError for any other version."""
    version = version_of(data_version)
    rng = np.random.default_rng([int(seed), int(index), version.item_seed_tag])
    garment = _pick(rng, version.garment_weights)
    cut = _pick(rng, version.cut_weights[garment])
    colour = str(rng.choice(list(PALETTE)))
    pattern = str(rng.choice(PATTERNS, p=PATTERN_WEIGHTS))
    secondary = _contrasting(rng, colour)
    if cut in NECKED_CUTS:
        neckline = _pick(rng, version.neckline_weights)
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
        pattern_scale=float(np.round(rng.uniform(0.75, 1.35), 3)), pattern_variant=variant, motif=motif,
        data_version=version.number)


def plain_item(rng: np.random.Generator, garment: str, data_version: int = 1) -> ItemSpec:
    """The *other* garment a model wears (plain, muted, never the product being sold), in the wearer's data version."""
    if garment == "bottom":
        name = str(rng.choice(["navy", "charcoal", "black", "grey", "brown", "olive", "royal blue", "beige"]))
        cut = "trousers"
    else:
        name = str(rng.choice(["white", "grey", "black", "charcoal", "navy", "beige", "sky blue", "olive"]))
        cut = str(rng.choice(["t-shirt", "t-shirt", "long sleeve", "tank"]))
    rgb = PALETTE[name]  # no jitter: a few dozen plain garments, each canvas built once per process
    return ItemSpec(item_id="plain", garment=garment, cut=cut, colour=name, rgb=rgb, pattern="solid",
                    secondary=name, secondary_rgb=rgb, neckline="crew" if garment == "top" and cut != "tank" else "none",
                    data_version=data_version)


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
    """Panels of trousers or shorts (waistband at y = 60); a skirt is one flared panel from the same waist."""
    h = CANVAS_HEAD
    if cut == "skirt":
        length = (SKIRT_HEM - BODY_WAIST_Y) * h
        return {SKIRT: (Segment((320, 60), (320, 60 + length), 1.6 * h, 2.55 * h), 1.0)}
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


def top_to_whole(x: float, y: float) -> tuple[float, float]:
    """Top-layout canvas point -> whole-garment canvas point."""
    return 320 + (x - 320) * K, WHOLE_TOP_Y + (y - 150) * K


def bottom_to_whole(x: float, y: float) -> tuple[float, float]:
    """Bottom-layout canvas point -> whole-garment canvas point."""
    return 320 + (x - 320) * K, WHOLE_TOP_Y + (BODY_WAIST_Y - BODY_TORSO_TOP) * WHOLE_HEAD + (y - 60) * K


def whole_y(y_head: float) -> float:
    """Body height (head units from the crown) -> whole-garment canvas y."""
    return WHOLE_TOP_Y + (y_head - BODY_TORSO_TOP) * WHOLE_HEAD


def _scaled(seg: Segment, f) -> Segment:
    return Segment(f(*seg.a), f(*seg.b), seg.w0 * K, seg.w1 * K)


def whole_segments(cut: str) -> dict[int, tuple[Segment, float]]:
    """Panels of a dress (bodice, short sleeves, flared skirt) or a jumpsuit (bodice, sleeves, trouser legs)."""
    segs = {}
    for pid, (seg, cover) in top_segments("t-shirt").items():
        segs[pid] = (_scaled(seg, top_to_whole), cover)
    torso = segs[TORSO][0]
    end = DRESS_WAIST + 0.12 if cut == "dress" else JUMPSUIT_TORSO_END
    t_end = (whole_y(end) - torso.a[1]) / (torso.b[1] - torso.a[1])
    segs[TORSO] = (Segment(torso.a, (320, whole_y(end)), torso.w0,
                           torso.w0 + (torso.w1 - torso.w0) * t_end - (0.2 * WHOLE_HEAD if cut == "dress" else 0)),
                   1.0)
    if cut == "dress":
        segs[SKIRT] = (Segment((320, whole_y(DRESS_WAIST)), (320, whole_y(DRESS_HEM)),
                               1.62 * WHOLE_HEAD, 2.6 * WHOLE_HEAD), 1.0)
    else:
        for pid, (seg, cover) in bottom_segments("trousers").items():
            segs[pid] = (_scaled(seg, bottom_to_whole), cover)
    return segs


def segments_for(spec: ItemSpec) -> dict[int, tuple[Segment, float]]:
    """The canvas panels of ``spec``'s cut: {part id: (segment, fraction of the segment the fabric covers)}."""
    if spec.garment == "whole":
        return whole_segments(spec.cut)
    return top_segments(spec.cut) if spec.garment == "top" else bottom_segments(spec.cut)
