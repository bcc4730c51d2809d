"""Judge a street-photo -> stock-image generator on held-out items.

What matters to the business is RETRIEVAL: does searching the catalogue with the generated stock image find the right
product? So the headline numbers are top-k accuracies of four queries ranked against the same gallery, side by side:

* ``photo``         the raw street photo (what search would do without any of this),
* ``preprocessed``  the preprocessor's garment crop on white (what preprocessing alone buys),
* ``g1``            the first-stage generator output,
* ``g2``            the two-stage output (what production shows and searches with).

The gallery is every item of the evaluated split, one catalogue (stock) image each, embedded with the project's search
embedding (``search.embedding.embed_images``); ``chance`` is printed next to it so a tiny gallery cannot flatter a
model. Ties in similarity (e.g. an untrained generator that outputs blank images) are broken at random IN
EXPECTATION (the expected top-k over random tie orders), so degenerate outputs score chance, not 100 %.

Image quality (SSIM, PSNR, L2 against the ground-truth stock image, squared on white and resized to the model size)
is reported for G1, G2 and, as a baseline, the preprocessed photo itself: a generator that does not beat its own input
has learnt nothing. L2 is the mean squared error on RGB scaled to [0, 1]; PSNR uses data range 1 and is capped at
100 dB for identical images (so the JSON never holds ``inf``).

Where the manifest has ground truth, the preprocessor is checked too: pose detection rate (all 4 torso keypoints
within 0.1 x image height of the truth), person-mask IoU (prediction > 0.5 vs the truth mask), and crop hit rate (the
crop box contains all of the garment's ground-truth keypoints: shoulders + hips for a top, hips + knees for a bottom,
all six for a whole-body garment). ``None`` means "no photo had that ground truth".

``evaluate()`` returns plain JSON-able dicts (a model-promotion step compares them); the CLI also writes
``metrics.json``, ``metrics.md`` and ``examples.png`` (photo | preprocessed | G1 | G2 | ground truth)::

    python -m imagegen.evaluate --checkpoint PATH --data MANIFEST --split test --out DIR [--untrained] [--max-photos N]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from imagegen.data import PairRecord, load_stock, pil_to_uint8, read_manifest, tensor_to_uint8, uint8_to_tensor

TOP_K: tuple[int, ...] = (1, 5, 20)
QUERIES: tuple[str, ...] = ("photo", "preprocessed", "g1", "g2")
QUERY_LABELS = {
    "photo": "raw street photo",
    "preprocessed": "preprocessed photo",
    "g1": "G1 output",
    "g2": "G2 output (two-stage)",
}
TORSO: tuple[str, ...] = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
GARMENT_KEYPOINTS: dict[str, tuple[str, ...]] = {
    "top": TORSO,
    "bottom": ("left_hip", "right_hip", "left_knee", "right_knee"),
    "whole": TORSO + ("left_knee", "right_knee"),
}
POSE_TOLERANCE = 0.1  # x image height
PSNR_CAP = 100.0
EXAMPLE_CELL = 128

Embed = Callable[[list], np.ndarray]


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


def retrieval_ranks(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query: (number of gallery items scoring strictly higher than the target, number tied with it)."""
    scores = queries.astype(np.float64) @ gallery.astype(np.float64).T
    target = scores[np.arange(len(targets)), targets][:, None]
    eps = 1e-9  # float noise is not a real difference
    greater = (scores > target + eps).sum(1)
    ties = (np.abs(scores - target) <= eps).sum(1) - 1  # minus the target itself
    return greater, ties


def retrieval_metrics(greater: np.ndarray, ties: np.ndarray, gallery_size: int) -> dict[str, float]:
    """Expected top-k / MRR / median rank when ties are ordered at random (the target uniform among its ties)."""
    out: dict[str, float] = {}
    for k in TOP_K:
        hit = np.clip((k - greater) / (ties + 1.0), 0.0, 1.0)
        out[f"top{k}"] = float(hit.mean())
    rr = [np.mean(1.0 / np.arange(g + 1, g + t + 2)) for g, t in zip(greater, ties)]
    out["mrr"] = float(np.mean(rr))
    out["median_rank"] = float(np.median(greater + ties / 2.0 + 1.0))
    return out


def image_quality(outputs: np.ndarray, truths: np.ndarray) -> dict[str, float]:
    """Mean SSIM, PSNR (dB) and L2 (MSE on [0, 1]) of uint8 [N, H, W, 3] outputs vs truths."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

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
    from PIL import Image

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


def _json_safe(value: Any) -> Any:
    """Round-trip through JSON (numpy scalars and paths become plain values; NaN/inf become None)."""

    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
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


def _embedder(embed: Embed | None) -> tuple[Embed, str]:
    if embed is not None:
        return embed, str(getattr(embed, "version", getattr(embed, "__name__", "custom")))
    from search.embedding import EMBEDDER_VERSION, embed_images

    return embed_images, EMBEDDER_VERSION


def _embed_all(embed: Embed, images: list, batch_size: int) -> np.ndarray:
    parts = [np.asarray(embed(images[i : i + batch_size]), dtype=np.float32) for i in range(0, len(images), batch_size)]
    vectors = np.concatenate(parts, 0)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)  # cosine, whatever the embedder promises


def _model_info(generator: Any) -> dict[str, Any]:
    info = getattr(generator, "info", None)
    info = dict(info) if isinstance(info, dict) else {}
    keep = ("label", "trained", "image_size", "step", "data_fingerprint")
    return _json_safe({k: info.get(k) for k in keep})


def _image_size(generator: Any) -> int:
    info = getattr(generator, "info", None)
    size = info.get("image_size") if isinstance(info, dict) else None
    size = size or getattr(generator, "image_size", None)
    if not size:
        raise ValueError("cannot tell the generator's image size (no info['image_size'])")
    return int(size)


# ------------------------------------------------------------------------------------------------------- evaluate


@dataclass
class _Photo:
    record: PairRecord
    preprocessed: np.ndarray  # uint8 [S, S, 3]
    thumbnail: Any = None  # small copy of the raw photo, only for the photos shown in examples.png


def evaluate(
    generator: Any,
    records: Sequence[PairRecord],
    split: str | None = "test",
    out_dir: str | Path | None = None,
    embed: Embed | None = None,
    max_photos: int | None = None,
    *,
    preprocessor: Callable[..., Any] | None = None,
    batch_size: int = 32,
    n_examples: int = 8,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``generator`` on the ``split`` photos of ``records``; return a JSON-able metrics dict.

    ``generator`` needs ``forward_preprocessed(Tensor[N,3,S,S]) -> (g1, g2)`` and ``info["image_size"]``.
    ``embed`` defaults to ``search.embedding.embed_images``; ``preprocessor`` to
    ``imagegen.preprocess.get_preprocessor(S)`` (any ``(PIL, garment) -> PreprocessResult``-like callable works).
    ``max_photos`` evaluates a deterministic subset of photos spread over items; the gallery stays the whole split.
    With ``out_dir``, writes ``metrics.json``, ``metrics.md`` and ``examples.png`` there.
    """
    import torch
    from tqdm.auto import tqdm

    from imagegen.images import load_image

    t_start = time.perf_counter()
    in_split = [r for r in records if split is None or r.split == split]
    if not in_split:
        raise ValueError(f"no records in split {split!r}")
    size = _image_size(generator)
    embed_fn, embedder_version = _embedder(embed)
    if preprocessor is None:
        from imagegen.preprocess import get_preprocessor

        preprocessor = get_preprocessor(size)

    # The gallery: one catalogue image per item of the split (the first record's stock image).
    gallery_stock: dict[str, Path] = {}
    for r in sorted(in_split, key=lambda r: (r.item_id, str(r.photo))):
        gallery_stock.setdefault(r.item_id, r.stock)
    gallery_ids = sorted(gallery_stock)
    gallery_index = {item: i for i, item in enumerate(gallery_ids)}
    chosen = select_photos(in_split, max_photos)
    targets = np.array([gallery_index[r.item_id] for r in chosen])
    example_rows = _pick_examples(chosen, n_examples) if out_dir is not None else []

    # 1. Preprocess each photo once; score the preprocessor where ground truth exists; embed raw photos as we go
    #    (keeping full-size street photos in memory for a large test set would not fit).
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    photos: list[_Photo] = []
    methods: Counter = Counter()
    warnings = 0
    pose_n = pose_hits = crop_n = crop_hits = 0
    ious: list[float] = []
    raw_vectors: list[np.ndarray] = []
    raw_buffer: list = []
    for index, r in enumerate(tqdm(chosen, desc="preprocessing", unit="photo", disable=not progress)):
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
        photo = _Photo(r, pil_to_uint8(result.image, size))
        if index in example_rows:
            photo.thumbnail = raw.copy()
            photo.thumbnail.thumbnail((EXAMPLE_CELL, EXAMPLE_CELL))
        photos.append(photo)
        raw_buffer.append(raw)
        if len(raw_buffer) >= batch_size:
            raw_vectors.append(_embed_all(embed_fn, raw_buffer, batch_size))
            raw_buffer = []
    if raw_buffer:
        raw_vectors.append(_embed_all(embed_fn, raw_buffer, batch_size))
    del raw_buffer
    timings["preprocess_s"] = time.perf_counter() - t0

    # 2. Generate in batches.
    t0 = time.perf_counter()
    g1_out, g2_out = [], []
    device = getattr(generator, "device", None)
    with torch.no_grad():
        for i in range(0, len(photos), batch_size):
            batch = torch.stack([uint8_to_tensor(p.preprocessed) for p in photos[i : i + batch_size]])
            if device is not None:
                batch = batch.to(device)
            g1, g2 = generator.forward_preprocessed(batch)
            g1_out.extend(tensor_to_uint8(t) for t in g1)
            g2_out.extend(tensor_to_uint8(t) for t in g2)
    timings["generate_s"] = time.perf_counter() - t0

    # 3. Image quality against the ground-truth stock image at the model's size.
    t0 = time.perf_counter()
    truth_cache: dict[Path, np.ndarray] = {}
    for p in photos:
        if p.record.stock not in truth_cache:
            truth_cache[p.record.stock] = pil_to_uint8(load_stock(p.record.stock, size))
    truths = np.stack([truth_cache[p.record.stock] for p in photos])
    prep_arr = np.stack([p.preprocessed for p in photos])
    g1_arr, g2_arr = np.stack(g1_out), np.stack(g2_out)
    quality = {
        "preprocessed": image_quality(prep_arr, truths),
        "g1": image_quality(g1_arr, truths),
        "g2": image_quality(g2_arr, truths),
    }
    timings["quality_s"] = time.perf_counter() - t0

    # 4. Retrieval: every query against the same gallery of catalogue images.
    from PIL import Image

    t0 = time.perf_counter()
    gallery_images = [load_image(gallery_stock[item]) for item in gallery_ids]
    gallery = _embed_all(embed_fn, gallery_images, batch_size)
    del gallery_images
    query_vectors = {
        "photo": np.concatenate(raw_vectors, 0),
        "preprocessed": _embed_all(embed_fn, [Image.fromarray(a) for a in prep_arr], batch_size),
        "g1": _embed_all(embed_fn, [Image.fromarray(a) for a in g1_arr], batch_size),
        "g2": _embed_all(embed_fn, [Image.fromarray(a) for a in g2_arr], batch_size),
    }
    n_gallery = len(gallery_ids)
    retrieval: dict[str, Any] = {
        "gallery_items": n_gallery,
        "chance": {f"top{k}": min(k, n_gallery) / n_gallery for k in TOP_K},
        "queries": {},
    }
    g2_hits_top1 = None
    for name in QUERIES:
        greater, ties = retrieval_ranks(query_vectors[name], gallery, targets)
        retrieval["queries"][name] = retrieval_metrics(greater, ties, n_gallery)
        if name == "g2":
            g2_hits_top1 = np.clip((1 - greater) / (ties + 1.0), 0, 1)
    retrieval["chance"]["mrr"] = float(np.mean(1.0 / np.arange(1, n_gallery + 1)))
    timings["retrieval_s"] = time.perf_counter() - t0

    preprocessing = {
        "methods": dict(sorted(methods.items())),
        "warnings": warnings,
        "pose_detection": {"photos": pose_n, "detected": pose_hits, "rate": _rate(pose_hits, pose_n)},
        "mask_iou": {
            "photos": len(ious),
            "mean": float(np.mean(ious)) if ious else None,
            "median": float(np.median(ious)) if ious else None,
        },
        "crop_hit": {"photos": crop_n, "hits": crop_hits, "rate": _rate(crop_hits, crop_n)},
    }
    timings["total_s"] = time.perf_counter() - t_start

    metrics: dict[str, Any] = {
        "split": split,
        "photos": len(photos),
        "photos_in_split": len(in_split),
        "items": len({p.record.item_id for p in photos}),
        "image_size": size,
        "model": _model_info(generator),
        "embedder": embedder_version,
        "summary": {
            "g2_top1": retrieval["queries"]["g2"]["top1"],
            "g2_top5": retrieval["queries"]["g2"]["top5"],
            "photo_top1": retrieval["queries"]["photo"]["top1"],
            "g2_ssim": quality["g2"]["ssim"],
            "g2_psnr": quality["g2"]["psnr"],
        },
        "retrieval": retrieval,
        "image_quality": {**quality, "l2_scale": "MSE on RGB in [0, 1]"},
        "preprocessing": preprocessing,
        "timings_s": {k.removesuffix("_s"): round(v, 3) for k, v in timings.items()},
    }
    metrics = _json_safe(metrics)

    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        grid = examples_grid(
            [
                (photos[i].thumbnail, prep_arr[i], g1_arr[i], g2_arr[i], truths[i],
                 f"item {photos[i].record.item_id}"
                 + ("  (G2 top-1 hit)" if g2_hits_top1 is not None and g2_hits_top1[i] >= 1 else ""))
                for i in example_rows
            ]
        )
        grid.save(out / "examples.png")
        metrics["files"] = {
            "metrics_json": str(out / "metrics.json"),
            "metrics_md": str(out / "metrics.md"),
            "examples_png": str(out / "examples.png"),
        }
        (out / "metrics.md").write_text(format_markdown(metrics), encoding="utf-8")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


def _pick_examples(records: Sequence[PairRecord], n: int) -> list[int]:
    """One photo per item first (different products are more informative than one product twice)."""
    seen: set[str] = set()
    first, rest = [], []
    for i, r in enumerate(records):
        (rest if r.item_id in seen else first).append(i)
        seen.add(r.item_id)
    return (first + rest)[:n]


# -------------------------------------------------------------------------------------------------------- reports


def examples_grid(rows: Sequence[tuple], cell: int = EXAMPLE_CELL):
    """Columns: photo | preprocessed | G1 | G2 | ground truth; each row is
    ``(raw PIL thumbnail, prep uint8, g1 uint8, g2 uint8, truth uint8, caption)``."""
    from PIL import Image, ImageDraw

    headers = ("photo", "preprocessed", "G1", "G2", "ground truth")
    header_h, caption_h, pad = 18, 14, 4
    width = len(headers) * (cell + pad) + pad
    height = header_h + max(1, len(rows)) * (cell + caption_h + pad) + pad
    canvas = Image.new("RGB", (width, height), (228, 228, 228))  # light grey: white cells stay visible
    draw = ImageDraw.Draw(canvas)
    for c, title in enumerate(headers):
        draw.text((pad + c * (cell + pad) + 2, 3), title, fill=(0, 0, 0))
    for r, (raw, *arrays, caption) in enumerate(rows):
        y = header_h + r * (cell + caption_h + pad)
        thumb = raw.convert("RGB").copy()
        thumb.thumbnail((cell, cell))
        canvas.paste(thumb, (pad + (cell - thumb.width) // 2, y + (cell - thumb.height) // 2))
        for c, arr in enumerate(arrays, start=1):
            im = Image.fromarray(np.asarray(arr, dtype=np.uint8)).resize((cell, cell), Image.Resampling.NEAREST)
            canvas.paste(im, (pad + c * (cell + pad), y))
        draw.text((pad + 2, y + cell + 1), caption, fill=(80, 80, 80))
    return canvas


def _fmt(value: Any, pct: bool = False, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if pct:
        return f"{100 * value:.1f} %"
    return f"{value:.{digits}f}"


def format_markdown(metrics: dict[str, Any]) -> str:
    """A human-readable report of an ``evaluate()`` result."""
    model = metrics.get("model", {})
    ret = metrics["retrieval"]
    n = ret["gallery_items"]
    lines = [
        f"# Generator evaluation: split `{metrics['split']}`",
        "",
        f"Model `{model.get('label') or 'unknown'}` (trained: {model.get('trained')}, step {model.get('step')}), "
        f"image size {metrics['image_size']} px; {metrics['photos']} photos of {metrics['items']} items; "
        f"embedder `{metrics['embedder']}`.",
        "",
        f"## Retrieval (gallery: {n} catalogue images, one per item)",
        "",
        "| query | top-1 | top-5 | top-20 | MRR | median rank |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    chance = ret["chance"]
    lines.append(
        f"| chance level | {_fmt(chance['top1'], True)} | {_fmt(chance['top5'], True)} | "
        f"{_fmt(chance['top20'], True)} | {_fmt(chance['mrr'])} | {(n + 1) / 2:.1f} |"
    )
    for name in QUERIES:
        q = ret["queries"][name]
        lines.append(
            f"| {QUERY_LABELS[name]} | {_fmt(q['top1'], True)} | {_fmt(q['top5'], True)} | {_fmt(q['top20'], True)} "
            f"| {_fmt(q['mrr'])} | {q['median_rank']:.1f} |"
        )
    quality = metrics["image_quality"]
    lines += [
        "",
        "## Image quality vs the ground-truth stock image (mean over photos)",
        "",
        "| output | SSIM (higher is better) | PSNR dB (higher is better) | L2 = MSE on [0, 1] (lower is better) |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("preprocessed", "preprocessed photo (baseline)"), ("g1", "G1"), ("g2", "G2")):
        q = quality[name]
        lines.append(f"| {label} | {_fmt(q['ssim'])} | {_fmt(q['psnr'], digits=2)} | {_fmt(q['l2'], digits=4)} |")
    prep = metrics["preprocessing"]
    pose, iou, crop = prep["pose_detection"], prep["mask_iou"], prep["crop_hit"]
    lines += [
        "",
        "## Preprocessing (where the manifest has ground truth)",
        "",
        "| check | value | photos with ground truth |",
        "|---|---:|---:|",
        f"| pose detection rate (4 torso points within {POSE_TOLERANCE} x height) | {_fmt(pose['rate'], True)} "
        f"| {pose['photos']} |",
        f"| person mask IoU, mean | {_fmt(iou['mean'])} | {iou['photos']} |",
        f"| person mask IoU, median | {_fmt(iou['median'])} | {iou['photos']} |",
        f"| crop contains the garment keypoints | {_fmt(crop['rate'], True)} | {crop['photos']} |",
        "",
        "Methods used: " + (", ".join(f"{m} {c}" for m, c in prep["methods"].items()) or "none")
        + f"; warnings: {prep['warnings']}.",
        "",
        "Timings (s): " + ", ".join(f"{k} {v}" for k, v in metrics.get("timings_s", {}).items()) + ".",
        "",
    ]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------ CLI


def _load_generator(checkpoint: Path | None, untrained: bool, image_size: int):
    from imagegen.generator import StockImageGenerator

    if untrained:
        return StockImageGenerator.untrained(image_size=image_size, seed=0)
    return StockImageGenerator.from_checkpoint(checkpoint)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagegen.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="generator checkpoint (.pt)")
    parser.add_argument("--untrained", action="store_true", help="evaluate an untrained generator (a baseline)")
    parser.add_argument("--image-size", type=int, default=64, help="image size of the untrained generator")
    parser.add_argument("--data", type=Path, required=True, help="manifest (.jsonl or .csv)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--out", type=Path, required=True, help="folder for metrics.json, metrics.md, examples.png")
    parser.add_argument("--max-photos", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    if not args.untrained and args.checkpoint is None:
        parser.error("give --checkpoint PATH or --untrained")
    try:
        records = read_manifest(args.data)
        generator = _load_generator(args.checkpoint, args.untrained, args.image_size)
        metrics = evaluate(
            generator, records, split=args.split, out_dir=args.out, max_photos=args.max_photos,
            batch_size=args.batch_size, progress=True,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_markdown(metrics))
    print(f"wrote {args.out / 'metrics.json'}, {args.out / 'metrics.md'}, {args.out / 'examples.png'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
