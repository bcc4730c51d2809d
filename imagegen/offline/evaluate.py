"""The image side of a generator's evaluation: run a checkpoint over held-out photos and judge what it draws.

This is the half that needs only ``imagegen``; the retrieval half (does searching the catalogue with the generated
image find the right product?) and the CLI that writes the full report are ``offline.evaluate_generator``
(``python -m offline.evaluate_generator``), which calls the stages here in order:

1. ``preprocess_photos``: each photo preprocessed once, as in production, and the preprocessor judged where the
   manifest has ground truth: pose detection rate (all 4 torso keypoints within ``POSE_TOLERANCE`` x image height of
   the truth), person-mask IoU (prediction > 0.5 vs the truth mask), and crop hit rate (the crop box contains all
   of the garment's ground-truth keypoints: shoulders + hips for a top, hips + knees for a bottom, all six for a
   whole-body garment). ``None`` means "no photo had that ground truth".
2. ``run_generator``: G1 and G2 in batches (a garment-conditioned model gets each photo's type, as at inference);
   image quality (SSIM, PSNR, L2 against the ground-truth stock image, squared on white and resized to the model
   size) for G1, G2 and, as baselines, the preprocessed photo and a blank white image: a generator that does not
   beat its own input has learnt nothing. L2 is the mean squared error on RGB scaled to [0, 1]; PSNR uses data
   range 1 and is capped at ``PSNR_CAP`` dB for identical images (so the JSON never holds ``inf``). When the photos
   span several garment types, the garment-conditioning check (``imagegen.offline.silhouette``): every photo
   preprocessed and generated once per type the model knows.
3. ``write_example_grids``: ``examples.png`` (photo | preprocessed | G1 | G2 | ground truth) and, with the
   conditioning check, ``conditioning.png``.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from tqdm.auto import tqdm

from imagegen.conditioning import DEFAULT_GARMENTS
from imagegen.generator import StockImageGenerator
from imagegen.images import load_image
from imagegen.offline.data import PairRecord, load_stock, pil_to_uint8
from imagegen.offline.grids import EXAMPLE_CELL, examples_grid
from imagegen.offline.silhouette import silhouette_report
from imagegen.tensors import tensor_to_uint8, uint8_to_tensor

__all__ = [
    "EvaluatedPhoto", "GeneratorRun", "preprocess_photos", "run_generator", "write_example_grids", "select_photos",
    "pick_examples", "image_quality", "mask_iou", "pose_detected", "crop_hit", "model_info", "image_size",
    "json_safe", "load_generator",
]

TORSO: tuple[str, ...] = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
GARMENT_KEYPOINTS: dict[str, tuple[str, ...]] = {
    "top": TORSO,
    "bottom": ("left_hip", "right_hip", "left_knee", "right_knee"),
    "whole": TORSO + ("left_knee", "right_knee"),
}
POSE_TOLERANCE = 0.1  # x image height
PSNR_CAP = 100.0


# --------------------------------------------------------------------------------------------------- small pieces


def select_photos(records: Sequence[PairRecord], max_photos: int | None) -> list[PairRecord]:
    """Deterministic subset that covers as many items as possible: round-robin over items, photos in path order."""
    ordered = sorted(records, key=lambda r: (r.item_id, str(r.photo)))
    if max_photos is None or max_photos >= len(ordered):
        return ordered
    by_item: dict[str, list[PairRecord]] = {}
    for r in ordered:
        by_item.setdefault(r.item_id, []).append(r)
    chosen: list[PairRecord] = []
    depth = 0
    while len(chosen) < max_photos:
        for photos in by_item.values():
            if depth < len(photos) and len(chosen) < max_photos:
                chosen.append(photos[depth])
        depth += 1
    return sorted(chosen, key=lambda r: (r.item_id, str(r.photo)))


def pick_examples(records: Sequence[PairRecord], n: int) -> list[int]:
    """Rows of ``examples.png``: one photo per item first (different products say more than one product twice)."""
    seen: set[str] = set()
    first, rest = [], []
    for i, r in enumerate(records):
        (rest if r.item_id in seen else first).append(i)
        seen.add(r.item_id)
    return (first + rest)[:n]


def image_quality(outputs: np.ndarray, truths: np.ndarray) -> dict[str, float]:
    """Mean SSIM, PSNR (dB) and L2 (MSE on [0, 1]) of uint8 [N, H, W, 3] outputs vs truths."""
    ssim, psnr, l2 = [], [], []
    for out, gt in zip(outputs, truths):
        a, b = gt.astype(np.float64) / 255.0, out.astype(np.float64) / 255.0
        mse = float(np.mean((a - b) ** 2))
        win = min(7, min(a.shape[:2]) // 2 * 2 - 1)  # odd, and no larger than the image
        ssim.append(float(structural_similarity(a, b, channel_axis=-1, data_range=1.0, win_size=win)))
        psnr.append(PSNR_CAP if mse == 0 else min(PSNR_CAP, float(peak_signal_noise_ratio(a, b, data_range=1.0))))
        l2.append(mse)
    return {"ssim": float(np.mean(ssim)), "psnr": float(np.mean(psnr)), "l2": float(np.mean(l2))}


def mask_iou(pred: np.ndarray | None, truth_path: Path, size: tuple[int, int]) -> float:
    """IoU of ``pred > 0.5`` with the ground-truth mask (white = person), both at the photo's size ``(w, h)``."""
    with Image.open(truth_path) as im:
        truth_im = im.convert("L")
        if truth_im.size != size:
            truth_im = truth_im.resize(size, Image.Resampling.NEAREST)
        truth = np.asarray(truth_im) > 127
    if pred is None:
        return 0.0  # no mask at all is a miss, not "unknown"
    pred = np.asarray(pred, dtype=np.float32)
    if pred.shape != truth.shape:
        pred = np.asarray(Image.fromarray(pred, mode="F").resize(size, Image.Resampling.NEAREST))
    p = pred > 0.5
    union = np.logical_or(p, truth).sum()
    return 1.0 if union == 0 else float(np.logical_and(p, truth).sum() / union)


def pose_detected(pred: dict | None, truth: dict, height: int) -> bool:
    """All 4 torso keypoints present and each within ``POSE_TOLERANCE x height`` pixels of the truth."""
    if not pred:
        return False
    for name in TORSO:
        if name not in pred:
            return False
        (px, py), (tx, ty) = pred[name][:2], truth[name][:2]
        if math.hypot(px - tx, py - ty) > POSE_TOLERANCE * height:
            return False
    return True


def crop_hit(box: Sequence[float] | None, truth: dict, names: Sequence[str]) -> bool:
    if box is None:
        return False
    left, top, right, bottom = box
    return all(left <= truth[n][0] <= right and top <= truth[n][1] <= bottom for n in names)


def _rate(hits: int, n: int) -> float | None:
    return None if n == 0 else hits / n


def json_safe(value: Any) -> Any:
    """Round-trip through JSON (numpy scalars and paths become plain values; NaN/inf become None)."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    def clean(o: Any) -> Any:
        if isinstance(o, float) and not math.isfinite(o):
            return None
        if isinstance(o, dict):
            return {str(k): clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        return o

    return clean(json.loads(json.dumps(value, default=default)))


def model_info(generator: Any) -> dict[str, Any]:
    info = getattr(generator, "info", None)
    info = dict(info) if isinstance(info, dict) else {}
    keep = ("label", "trained", "image_size", "step", "data_fingerprint")
    return json_safe({k: info.get(k) for k in keep})


def image_size(generator: Any) -> int:
    info = getattr(generator, "info", None)
    size = info.get("image_size") if isinstance(info, dict) else None
    size = size or getattr(generator, "image_size", None)
    if not size:
        raise ValueError("cannot tell the generator's image size (no info['image_size'])")
    return int(size)


def load_generator(checkpoint: Path | None, untrained: bool, image_size: int) -> StockImageGenerator:
    """The CLI's generator: a checkpoint, or an untrained one (a baseline) of ``image_size``."""
    if untrained:
        return StockImageGenerator.untrained(image_size=image_size, seed=0)
    return StockImageGenerator.from_checkpoint(checkpoint)


# ---------------------------------------------------------------------------------------------------- preprocessing


@dataclass
class EvaluatedPhoto:
    record: PairRecord
    preprocessed: np.ndarray  # uint8 [S, S, 3]
    thumbnail: Any = None  # small copy of the raw photo, only for the photos shown in examples.png


def preprocess_photos(
    records: Sequence[PairRecord],
    preprocessor: Callable[..., Any],
    size: int,
    thumbnails: Collection[int] = (),
    on_raw_photo: Callable[[Image.Image], None] | None = None,
    progress: bool = False,
) -> tuple[list[EvaluatedPhoto], dict[str, Any]]:
    """Preprocess each photo once and score the preprocessor where ground truth exists.

    Returns the photos (``thumbnails``: the indices that keep a small copy of the raw photo) and the preprocessing
    report. ``on_raw_photo(image)`` sees each raw photo, in order, right after its preprocessing: the caller can
    embed them as they come (keeping a large test set's full-size street photos in memory would not fit)."""
    photos: list[EvaluatedPhoto] = []
    methods: Counter = Counter()
    warnings = 0
    pose_n = pose_hits = crop_n = crop_hits = 0
    ious: list[float] = []
    for index, r in enumerate(tqdm(records, desc="preprocessing", unit="photo", disable=not progress)):
        raw = load_image(r.photo)
        result = preprocessor(raw, r.garment)
        methods[str(getattr(result, "method", "unknown"))] += 1
        warnings += len(getattr(result, "warnings", None) or [])
        width, height = raw.size
        truth = r.keypoints or {}
        if all(n in truth for n in TORSO):
            pose_n += 1
            pose_hits += pose_detected(getattr(result, "keypoints", None), truth, height)
        needed = GARMENT_KEYPOINTS[r.garment]
        if all(n in truth for n in needed):
            crop_n += 1
            crop_hits += crop_hit(getattr(result, "crop_box", None), truth, needed)
        if r.mask is not None:
            ious.append(mask_iou(getattr(result, "mask", None), r.mask, (width, height)))
        photo = EvaluatedPhoto(r, pil_to_uint8(result.image, size))
        if index in thumbnails:
            photo.thumbnail = raw.copy()
            photo.thumbnail.thumbnail((EXAMPLE_CELL, EXAMPLE_CELL))
        photos.append(photo)
        if on_raw_photo is not None:
            on_raw_photo(raw)
    report = {
        "methods": dict(sorted(methods.items())),
        "warnings": warnings,
        "pose_tolerance": POSE_TOLERANCE,
        "pose_detection": {"photos": pose_n, "detected": pose_hits, "rate": _rate(pose_hits, pose_n)},
        "mask_iou": {
            "photos": len(ious),
            "mean": float(np.mean(ious)) if ious else None,
            "median": float(np.median(ious)) if ious else None,
        },
        "crop_hit": {"photos": crop_n, "hits": crop_hits, "rate": _rate(crop_hits, crop_n)},
    }
    return photos, report


# ------------------------------------------------------------------------------------------------------ generation


@dataclass
class GeneratorRun:
    """What ``run_generator`` drew and how it scored (every array uint8 at the model size, one row per photo)."""

    photos: list[EvaluatedPhoto]
    preprocessed: np.ndarray  # [N, S, S, 3]: the generator's inputs
    g1: np.ndarray
    g2: np.ndarray
    truths: np.ndarray  # each photo's ground-truth stock image
    blank: np.ndarray  # [1, S, S, 3]: the blank white baseline
    quality: dict[str, dict[str, float]]  # preprocessed / g1 / g2 / blank -> SSIM, PSNR, L2
    quality_by_garment: dict[str, dict]
    conditioning: dict[str, Any] | None = None  # the garment-conditioning check (photos of several types only)
    types: tuple[str, ...] = ()  # the types that check asked for
    per_type: dict[str, np.ndarray] = field(default_factory=dict)  # type -> G2 of every photo generated as it
    per_type_crops: dict[str, list[np.ndarray]] = field(default_factory=dict)  # type -> the crops fed for it


def _generate(generator: Any, crops: Sequence[np.ndarray], garments: Sequence[str] | None,
              batch_size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """G1 and G2 of uint8 crops in batches; ``garments`` (one per crop) for a conditioned model, else ``None``."""
    g1_out, g2_out = [], []
    device = getattr(generator, "device", None)
    with torch.no_grad():
        for i in range(0, len(crops), batch_size):
            batch = torch.stack([uint8_to_tensor(c) for c in crops[i : i + batch_size]])
            if device is not None:
                batch = batch.to(device)
            if garments is not None:
                g1, g2 = generator.forward_preprocessed(batch, list(garments[i : i + batch_size]))
            else:
                g1, g2 = generator.forward_preprocessed(batch)
            g1_out.extend(tensor_to_uint8(t) for t in g1)
            g2_out.extend(tensor_to_uint8(t) for t in g2)
    return g1_out, g2_out


def run_generator(
    generator: Any,
    photos: list[EvaluatedPhoto],
    preprocessor: Callable[..., Any],
    size: int,
    batch_size: int = 32,
    timings: dict[str, float] | None = None,
) -> GeneratorRun:
    """Generate, judge image quality and, when the photos span several garment types, the garment conditioning.

    ``generator`` needs ``forward_preprocessed(Tensor[N,3,S,S]) -> (g1, g2)``; if it has a non-empty ``garments``
    (a garment-conditioned model, ``GANConfig.garments``), each batch also gets its photos' garment types as
    ``forward_preprocessed(batch, garments)``, as at inference. ``timings`` gets ``generate_s``, ``quality_s`` and
    ``conditioning_s``."""
    timings = timings if timings is not None else {}
    conditioned = bool(getattr(generator, "garments", ()))  # duck-typed generators without it keep the 1-arg call

    t0 = time.perf_counter()
    g1_out, g2_out = _generate(generator, [p.preprocessed for p in photos],
                               [p.record.garment for p in photos] if conditioned else None, batch_size)
    timings["generate_s"] = time.perf_counter() - t0

    # Image quality against the ground-truth stock image at the model's size.
    t0 = time.perf_counter()
    truth_cache: dict[Path, np.ndarray] = {}
    for p in photos:
        if p.record.stock not in truth_cache:
            truth_cache[p.record.stock] = pil_to_uint8(load_stock(p.record.stock, size))
    truths = np.stack([truth_cache[p.record.stock] for p in photos])
    prep_arr = np.stack([p.preprocessed for p in photos])
    g1_arr, g2_arr = np.stack(g1_out), np.stack(g2_out)
    blank_arr = np.full((1, size, size, 3), 255, np.uint8)
    blank_all = np.broadcast_to(blank_arr, truths.shape)
    quality = {
        "preprocessed": image_quality(prep_arr, truths),
        "g1": image_quality(g1_arr, truths),
        "g2": image_quality(g2_arr, truths),
        "blank": image_quality(blank_all, truths),
    }
    garment_of = np.array([p.record.garment for p in photos])
    quality_by_garment = {
        g: {"photos": int((garment_of == g).sum()),
            **{kind: image_quality(arr[garment_of == g], truths[garment_of == g])
               for kind, arr in (("blank", blank_all), ("g1", g1_arr), ("g2", g2_arr))}}
        for g in sorted(set(garment_of.tolist()))
    }
    timings["quality_s"] = time.perf_counter() - t0
    run = GeneratorRun(photos, prep_arr, g1_arr, g2_arr, truths, blank_arr, quality, quality_by_garment)

    # Garment conditioning: every photo preprocessed and generated once per type the model knows, as the product
    # does when a user asks for that type (the crop follows the type, and so does the FiLM class). Is the output's
    # silhouette the requested type's, and do one photo's outputs differ by type? A v1 model ignores the class, so
    # for it only the crop changes: the baseline that shows what the conditioning adds.
    if len({p.record.garment for p in photos}) > 1:  # the check needs ground truths of more than one type
        t0 = time.perf_counter()
        run.types = tuple(generator.garments) if conditioned else DEFAULT_GARMENTS
        for g in run.types:
            crops = [p.preprocessed if p.record.garment == g
                     else pil_to_uint8(preprocessor(load_image(p.record.photo), g).image, size) for p in photos]
            _, outs = _generate(generator, crops, [g] * len(crops) if conditioned else None, batch_size)
            run.per_type[g], run.per_type_crops[g] = np.stack(outs), crops
        bank_paths = sorted({p.record.stock: p.record.garment for p in photos}.items(), key=lambda kv: str(kv[0]))
        run.conditioning = silhouette_report(run.per_type, np.stack([truth_cache[path] for path, _ in bank_paths]),
                                             [g for _, g in bank_paths])
        run.conditioning["conditioned"] = conditioned
        timings["conditioning_s"] = time.perf_counter() - t0
    return run


# --------------------------------------------------------------------------------------------------------- pictures


def write_example_grids(out: Path, run: GeneratorRun, rows: Sequence[int],
                        notes: Mapping[int, str] | None = None) -> dict[str, str]:
    """``examples.png`` (and ``conditioning.png`` after the conditioning check) of the photos ``rows`` in ``out``;
    ``notes``: text appended to a row's caption. Returns {file key: path} of what it wrote."""
    notes = notes or {}
    photos = run.photos
    examples_grid(
        [(photos[i].thumbnail, run.preprocessed[i], run.g1[i], run.g2[i], run.truths[i],
          f"item {photos[i].record.item_id}" + notes.get(i, "")) for i in rows]
    ).save(out / "examples.png")
    files = {"examples_png": str(out / "examples.png")}
    if run.per_type:
        examples_grid(
            [(photos[i].thumbnail,
              *(a for g in run.types for a in (run.per_type_crops[g][i], run.per_type[g][i])),
              f"item {photos[i].record.item_id}, a {photos[i].record.garment}")
             for i in rows],
            headers=("photo", *(h for g in run.types for h in (f"crop as {g}", f"G2 as {g}"))),
        ).save(out / "conditioning.png")
        files["conditioning_png"] = str(out / "conditioning.png")
    return files
