"""Step 1 of the pipeline: a street photo -> a square, white-background crop of one garment.

The GAN learns "person wearing garment" -> "catalogue image of the garment". It learns far
faster when every input looks alike: the person cut out onto pure white (the catalogue
background) and framed on the garment. So:

1. **Segmentation** (mediapipe selfie segmentation, ``model_selection=0``): a soft person
   mask; the photo is composited on white with it (soft, so hair and edges don't get a
   jagged halo). Model 0 ("general", 256x256 input) was chosen over model 1 ("landscape",
   144x256) by measurement on grace_hopper.jpg: model 0 keeps the whole head (model 1 cut
   off the hat), has half as many uncertain pixels (2.7 % vs 5.4 % in 0.1..0.9) and absorbed
   far less of the flag beside her (0.3 % vs 7.4 % of the left edge column); on drawn people
   (docs/FACTS.md) it is equal or better (IoU 0.92/0.85 vs 0.91/0.84). It costs ~5 ms vs
   ~3 ms on 2 cores, which is noise next to pose.
2. **Pose** (``Pose(static_image_mode=True, model_complexity=1)``, the only bundled pose
   model): 33 landmarks, converted from mediapipe's normalised coordinates to source pixels.
   Pose runs on the original photo, not the white composite, so a mask error cannot hide a
   limb from it.
3. **Crop by garment**, with this fallback order (``PreprocessResult.method``):

   - ``"keypoints"``: every landmark the garment needs has visibility >= threshold and lies
     in the frame. top = the 4 torso points (shoulders 11/12, hips 23/24); bottom = hips
     23/24 to ankles 27/28 (knees and feet widen it); whole = all usable landmarks, widened
     to the mask's extent (landmarks stop at the eyes and heels, the mask does not).
   - ``"shoulders+mask"``: the upper anchor is visible but the lower one is not: a portrait
     (shoulders without hips) for a top, or hips without ankles for a bottom. The crop runs
     from the anchor down to the mask's lower edge (the image bottom without a mask). For a
     top it is capped at ~1.8 shoulder widths below the shoulders, so a person whose hips
     are merely occluded does not become a whole-body crop.
   - ``"mask_bbox"``: no usable pose for the garment, but segmentation found a person: the
     mask's bounding box.
   - ``"centre"``: no person at all: a centre square crop of the *original* photo (nothing
     is whitened, there is nothing to cut out).

   A person found by pose but missed by segmentation keeps the keypoint crop on the
   original photo, with a warning, rather than whitening the whole image.

   When a person is found but the part of the body the requested garment covers is not
   (no shoulders for a top or a whole garment, no hips for a bottom; no hips for a whole
   garment on a head-and-shoulders portrait), the crop still falls back as above, and a
   warning says that the requested garment is not in the photo (``GARMENT_MISSING``): what
   the generator makes of it is a guess, and search must not present it as a confident
   match (``ImageJob.garment_not_in_photo``).
4. **Square and resize**: the crop box is grown to a square around its centre (padding
   outside the photo is white, the image is never distorted) and resized with LANCZOS.

mediapipe runs on a downscaled copy when the photo's long side exceeds ``max_side``
(1024 px): its networks see 256 px anyway, so this only saves time; results are mapped
back to source pixels. Models are loaded once per ``Preprocessor``; ``get_preprocessor``
keeps one per size for the whole process. Nothing is loaded at import time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cv2  # installed with mediapipe (opencv-contrib-python); light beside it
import numpy as np
from PIL import Image

from imagegen.images import ImageSource, load_image

__all__ = ["GARMENTS", "METHODS", "PreprocessResult", "Preprocessor", "get_preprocessor"]

GARMENTS: tuple[str, ...] = ("top", "bottom", "whole")
# The phrase of the warning when the requested garment's part of the body is not in the photo (the web side matches
# it without importing this module: marketplace.jobs.models.ImageJob.GARMENT_MISSING_WARNING).
GARMENT_MISSING = "is not in the photo"
METHODS: tuple[str, ...] = ("keypoints", "shoulders+mask", "mask_bbox", "centre")

# mediapipe pose landmark indices (BlazePose topology).
NOSE = 0
L_SHOULDER, R_SHOULDER = 11, 12
L_HIP, R_HIP = 23, 24
L_KNEE, R_KNEE = 25, 26
L_ANKLE, R_ANKLE = 27, 28
FEET = (29, 30, 31, 32)  # heels, foot index
SHOULDERS = (L_SHOULDER, R_SHOULDER)
HIPS = (L_HIP, R_HIP)
ANKLES = (L_ANKLE, R_ANKLE)

Box = tuple[float, float, float, float]  # left, top, right, bottom (source pixels)
Keypoints = dict[str, tuple[float, float, float]]


@dataclass
class PreprocessResult:
    """What ``Preprocessor.__call__`` returns (see docs/CONTRACTS.md, imagegen.preprocess).

    ``crop_box`` is the final *square* box in source pixels; it may extend past the photo
    (that part is white padding). ``mask`` is float32 HxW in [0, 1] at source size.
    """

    image: Image.Image
    method: str
    warnings: list[str] = field(default_factory=list)
    keypoints: Keypoints | None = None
    mask: np.ndarray | None = None
    crop_box: tuple[int, int, int, int] = (0, 0, 0, 0)
    timings_ms: dict[str, float] = field(default_factory=dict)


class Preprocessor:
    """Segment, find the pose, crop to the garment. Callable; thread-safe (one lock).

    Args:
        size: output side in pixels (overridable per call).
        visibility_threshold: a landmark counts only at or above this mediapipe visibility.
        margin: padding around the keypoint box, as a fraction of the box's long side.
        max_side: photos with a longer side are downscaled before mediapipe sees them.
        model_selection: selfie segmentation model (0 general, 1 landscape); see module doc.
        min_person_fraction: the mask must cover at least this share of the photo (at > 0.5)
            to count as a person.
    """

    def __init__(
        self,
        size: int = 64,
        *,
        visibility_threshold: float = 0.5,
        margin: float = 0.12,
        max_side: int = 1024,
        model_selection: int = 0,
        min_person_fraction: float = 0.01,
    ) -> None:
        # lazy: mediapipe (TFLite graphs, ~1 s) loads only once a raw photo must be preprocessed, not on import
        import mediapipe as mp

        if size < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.size = size
        self.visibility_threshold = visibility_threshold
        self.margin = margin
        self.max_side = max_side
        self.model_selection = model_selection
        self.min_person_fraction = min_person_fraction
        self._segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=model_selection)
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True, model_complexity=1, enable_segmentation=False
        )
        self._names = [lm.name.lower() for lm in mp.solutions.pose.PoseLandmark]
        # mediapipe graphs are stateful and not safe to call from two threads at once.
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def __call__(self, image: ImageSource, garment: str = "top", size: int | None = None) -> PreprocessResult:
        """Preprocess one photo (anything ``load_image`` accepts) for ``garment``.

        Raises ``ImageInputError`` for unusable images and ``ValueError`` for an unknown garment.
        """
        if garment not in GARMENTS:
            raise ValueError(f"garment must be one of {GARMENTS}, got {garment!r}")
        out_size = self.size if size is None else int(size)
        t0 = time.perf_counter()
        pil = load_image(image)
        photo = np.asarray(pil)
        h, w = photo.shape[:2]
        work = self._work_copy(pil)

        with self._lock:
            t1 = time.perf_counter()
            mask = self._segment(work, (w, h))
            t2 = time.perf_counter()
            keypoints = self._find_pose(work, (w, h))
            t3 = time.perf_counter()

        warnings: list[str] = []
        person = mask is not None and float((mask > 0.5).mean()) >= self.min_person_fraction
        mask_box = _mask_bbox(mask) if person else None
        box, method = self._choose_box(garment, keypoints, mask_box, (w, h), warnings)

        if method != "centre" and not person:
            warnings.append("no person outline found: the background was not removed")
        square = _square(box)
        cutout = mask if (person and method != "centre") else None
        result_img = _render(photo, cutout, square, out_size)
        t4 = time.perf_counter()

        return PreprocessResult(
            image=result_img,
            method=method,
            warnings=warnings,
            keypoints=keypoints,
            mask=mask,
            crop_box=square,
            timings_ms={
                "load": round((t1 - t0) * 1000, 2),
                "segmentation": round((t2 - t1) * 1000, 2),
                "pose": round((t3 - t2) * 1000, 2),
                "crop": round((t4 - t3) * 1000, 2),
                "total": round((t4 - t0) * 1000, 2),
            },
        )

    def close(self) -> None:
        """Release the mediapipe graphs (a closed Preprocessor cannot be called again)."""
        with self._lock:
            self._segmenter.close()
            self._pose.close()

    def __enter__(self) -> "Preprocessor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ models

    def _work_copy(self, pil: Image.Image) -> np.ndarray:
        """The array mediapipe sees: the photo, downscaled if its long side > max_side."""
        w, h = pil.size
        scale = self.max_side / max(w, h)
        if scale < 1.0:
            pil = pil.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.ascontiguousarray(np.asarray(pil))

    def _segment(self, work: np.ndarray, src_size: tuple[int, int]) -> np.ndarray | None:
        res = self._segmenter.process(work)
        m = getattr(res, "segmentation_mask", None)
        if m is None:
            return None
        m = np.clip(np.asarray(m, dtype=np.float32), 0.0, 1.0)
        if (m.shape[1], m.shape[0]) != src_size:
            m = np.clip(cv2.resize(m, src_size, interpolation=cv2.INTER_LINEAR), 0.0, 1.0)
        return m

    def _find_pose(self, work: np.ndarray, src_size: tuple[int, int]) -> Keypoints | None:
        res = self._pose.process(work)
        if res.pose_landmarks is None:
            return None
        w, h = src_size
        # Normalised coordinates are relative to the image mediapipe saw, which has the
        # source's aspect ratio, so scaling by the source size maps them back exactly.
        return {
            name: (float(lm.x) * w, float(lm.y) * h, float(lm.visibility))
            for name, lm in zip(self._names, res.pose_landmarks.landmark)
        }

    # ------------------------------------------------------------------ cropping

    def _usable(self, kp: Keypoints | None, idx: tuple[int, ...], size: tuple[int, int]) -> bool:
        """All landmarks ``idx`` visible enough and inside the frame (2 % tolerance)."""
        if kp is None:
            return False
        w, h = size
        for i in idx:
            x, y, v = kp[self._names[i]]
            if v < self.visibility_threshold or not (-0.02 * w <= x <= 1.02 * w and -0.02 * h <= y <= 1.02 * h):
                return False
        return True

    def _points(self, kp: Keypoints, idx: tuple[int, ...] | range) -> np.ndarray:
        return np.array([kp[self._names[i]][:2] for i in idx], dtype=np.float64)

    def _choose_box(
        self,
        garment: str,
        kp: Keypoints | None,
        mask_box: Box | None,
        size: tuple[int, int],
        warnings: list[str],
    ) -> tuple[Box, str]:
        """The crop box and the method that produced it, appending warnings on fallback."""
        w, h = size
        usable = lambda *idx: self._usable(kp, idx, size)  # noqa: E731

        def garment_missing(why: str) -> None:  # a person, but not the part of them the garment covers
            if kp is not None:  # (no pose at all says nothing about which parts are there)
                warnings.append(f"{why}: the requested garment ({garment}) {GARMENT_MISSING}")

        lower_edge = mask_box[3] if mask_box else float(h)
        lower_name = "the mask's lower edge" if mask_box else "the image bottom"

        if garment == "top":
            if usable(*SHOULDERS, *HIPS):
                return self._pad(_bounds(self._points(kp, SHOULDERS + HIPS))), "keypoints"
            if usable(*SHOULDERS):
                sh = self._points(kp, SHOULDERS)
                width = max(abs(sh[0, 0] - sh[1, 0]), 1.0)
                pad = self.margin * 1.5 * width
                left, right = sh[:, 0].min() - pad, sh[:, 0].max() + pad
                top = sh[:, 1].min() - pad
                bottom = min(lower_edge, sh[:, 1].max() + 1.8 * width)
                bottom = max(bottom, top + width * 0.5)
                warnings.append(f"hips not visible: cropped from the shoulders to {lower_name}")
                return (left, top, right, bottom), "shoulders+mask"
            missing = "shoulders not visible"
            garment_missing(missing)
        elif garment == "bottom":
            if usable(*HIPS, *ANKLES):
                idx = HIPS + ANKLES + tuple(i for i in (L_KNEE, R_KNEE, *FEET) if usable(i))
                return self._pad(_bounds(self._points(kp, idx))), "keypoints"
            if usable(*HIPS):
                hips = self._points(kp, HIPS)
                idx = HIPS + tuple(i for i in (L_KNEE, R_KNEE) if usable(i))
                pts = self._points(kp, idx)
                width = max(abs(hips[0, 0] - hips[1, 0]), 1.0)
                pad = self.margin * 3.0 * width
                top = hips[:, 1].min() - pad
                bottom = max(lower_edge, pts[:, 1].max() + pad)
                box = (pts[:, 0].min() - 2 * pad, top, pts[:, 0].max() + 2 * pad, bottom)
                warnings.append(f"ankles not visible: cropped from the hips to {lower_name}")
                return box, "shoulders+mask"
            missing = "hips not visible"
            garment_missing(missing)
        else:  # whole
            if usable(*SHOULDERS):
                idx = tuple(i for i in range(len(self._names)) if usable(i))
                box = self._pad(_bounds(self._points(kp, idx)))
                if mask_box is not None:
                    box = _union(box, mask_box)
                if not usable(*HIPS):  # a head-and-shoulders portrait: most of a dress is out of the frame
                    garment_missing("hips not visible")
                elif not usable(*ANKLES):
                    warnings.append(f"ankles not visible: the whole-body crop ends at {lower_name}")
                return box, "keypoints"
            missing = "shoulders not visible"
            garment_missing(missing)

        if mask_box is not None:
            reason = "no body keypoints found" if kp is None else missing
            warnings.append(f"{reason}: cropped to the person's outline")
            return _pad_box(mask_box, 0.04), "mask_bbox"
        visible = tuple(i for i in range(len(self._names)) if usable(i))
        if len(visible) >= 4:  # pose but no mask: frame whatever landmarks are visible
            idx = visible
            warnings.append(f"{missing}: cropped around the visible body keypoints")
            return self._pad(_bounds(self._points(kp, idx))), "keypoints"
        warnings.append("no person detected: centre crop")
        side = min(w, h)
        return ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2), "centre"

    def _pad(self, box: Box) -> Box:
        return _pad_box(box, self.margin)


# ---------------------------------------------------------------------- module helpers


def _bounds(points: np.ndarray) -> Box:
    return (float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max()))


def _pad_box(box: Box, frac: float) -> Box:
    l, t, r, b = box
    pad = frac * max(r - l, b - t, 1.0)
    return (l - pad, t - pad, r + pad, b + pad)


def _union(a: Box, b: Box) -> Box:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))


def _mask_bbox(mask: np.ndarray) -> Box | None:
    fg = mask > 0.5
    rows, cols = np.flatnonzero(fg.any(axis=1)), np.flatnonzero(fg.any(axis=0))
    if rows.size == 0:
        return None
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _square(box: Box) -> tuple[int, int, int, int]:
    """Grow ``box`` to a square around its centre (integer pixels, at least 8 px)."""
    l, t, r, b = box
    side = max(r - l, b - t, 8.0)
    cx, cy = (l + r) / 2, (t + b) / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    return (left, top, left + s, top + s)


def _render(photo: np.ndarray, mask: np.ndarray | None, square: tuple[int, int, int, int], size: int) -> Image.Image:
    """Cut ``square`` out of ``photo`` onto white (through ``mask`` if given); size x size.

    Only the part of the photo inside the square is touched, and it is first area-resized
    to about twice the output size, so a 12-megapixel photo costs the same as a small one.
    Outside the photo the square is white (PIL would pad with black).
    """
    left, top, right, bottom = square
    side = right - left
    h, w = photo.shape[:2]
    il, it, ir, ib = max(left, 0), max(top, 0), min(right, w), min(bottom, h)
    f = min(1.0, 2.0 * size / side)
    canvas_side = max(1, round(side * f))
    canvas = np.full((canvas_side, canvas_side, 3), 255, dtype=np.uint8)
    if il < ir and it < ib:
        x0, y0 = round((il - left) * f), round((it - top) * f)
        rw = max(1, min(round((ir - il) * f), canvas_side - x0))
        rh = max(1, min(round((ib - it) * f), canvas_side - y0))
        region = photo[it:ib, il:ir]
        if (rw, rh) != (ir - il, ib - it):
            region = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
        if mask is not None:
            m = mask[it:ib, il:ir]
            if (rw, rh) != (ir - il, ib - it):
                m = cv2.resize(m, (rw, rh), interpolation=cv2.INTER_AREA)
            m = m[:, :, None]
            region = np.clip(region.astype(np.float32) * m + 255.0 * (1.0 - m) + 0.5, 0, 255).astype(np.uint8)
        canvas[y0 : y0 + rh, x0 : x0 + rw] = region
    img = Image.fromarray(canvas, mode="RGB")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return img


_CACHE: dict[int, Preprocessor] = {}
_CACHE_LOCK = threading.Lock()


def get_preprocessor(size: int = 64) -> Preprocessor:
    """The process-wide ``Preprocessor`` for ``size``, created on first use.

    Loading mediapipe's graphs takes ~0.3 s and tens of MB, so workers and the web process
    share one instance per size instead of building one per request.
    """
    pre = _CACHE.get(size)
    if pre is None:
        with _CACHE_LOCK:
            pre = _CACHE.get(size)
            if pre is None:
                pre = _CACHE[size] = Preprocessor(size=size)
    return pre
