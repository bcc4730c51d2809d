"""Judge a street-photo -> stock-image generator on held-out items, at real catalogue sizes.

What matters to the business is RETRIEVAL: does searching the catalogue with the generated stock image find the right
product? So the headline numbers are top-k accuracies of these queries ranked against the same galleries:

* ``photo``         the raw street photo (what search would do without any of this),
* ``preprocessed``  the preprocessor's garment crop on white (what preprocessing alone buys),
* ``g1``            the first-stage generator output,
* ``g2``            the two-stage output (what production shows and searches with),
* ``blank``         a plain white image of the model size for every photo: a baseline that must sit at chance.

Galleries. One catalogue (stock) image per item: the evaluated split's items (the targets) plus DISTRACTOR items
from the manifest's other splits (one stock image each, the first record in sorted order). The curve is reported at
gallery sizes 200 / 500 / 1,000 / 2,000 / all items of the manifest (sizes above the manifest's item count are
skipped; ``all`` is always there). A size ``N >= n_targets`` holds every target plus a seeded random choice of
``N - n_targets`` distractors; a smaller ``N`` is a seeded random subset of ``N`` targets and only the queries of
those items count. Galleries are nested (the 500 gallery contains the 200 one). A 200-item gallery flatters: the
same model drops from about half to about a fifth top-1 at 2,000 items.

Metrics per query: expected top-1/5/20 and reciprocal rank when tied scores are ordered at random (the target uniform
among its ties; an untrained generator that outputs blank images scores chance, not 100 %), median rank, and for every
mean its standard error ``std(per-query values, ddof=1) / sqrt(n)``. Photos of one item are not independent, so the
SE is a lower bound when there are several photos per item. ``chance`` is ``min(k, N) / N``.

Item attributes (``items.jsonl`` beside the manifest, written by ``imagegen.offline.synth``; ``items=`` in
``evaluate()``) add: per-pattern and per-garment rows (at the ``all`` gallery), the curve split into ``seen`` and
``unseen`` cut x pattern x colour combinations (unseen: the combination occurs in no ``train`` item of the manifest,
computed from the attributes), and the CEILING: per query, ``n_same`` = other gallery items whose spec (garment, cut,
colour, pattern, secondary colour unless solid, neckline, motif) equals the target's; no embedding can tell those apart,
so the best expected top-k is ``mean(min(1, k / (1 + n_same)))`` and the best MRR
``mean(H(1 + n_same) / (1 + n_same))``. Without attributes these are ``None``.

Several embedders can be judged in one run (``embedders={name: fn_or_object}``; the generator runs once). An
embedder object with a ``gate`` (``search.embedders.ConfidenceGate``) also gets, per gallery size, the gate's
coverage on G2 queries (fraction judged confident), its confident precision (fraction of those whose top-1 is the
target) and how many blank queries it judges confident (a good gate: none).

Image quality (SSIM, PSNR, L2 against the ground-truth stock image, squared on white and resized to the model size)
is reported for G1, G2 and, as baselines, the preprocessed photo and a blank white image: a generator that does not
beat its own input has learnt nothing. L2 is the mean squared error on RGB scaled to [0, 1]; PSNR uses data range 1
and is capped at 100 dB for identical images (so the JSON never holds ``inf``).

Where the manifest has ground truth, the preprocessor is checked too: pose detection rate (all 4 torso keypoints
within 0.1 x image height of the truth), person-mask IoU (prediction > 0.5 vs the truth mask), and crop hit rate (the
crop box contains all of the garment's ground-truth keypoints: shoulders + hips for a top, hips + knees for a bottom,
all six for a whole-body garment). ``None`` means "no photo had that ground truth".

``evaluate()`` returns plain JSON-able dicts (a model-promotion step compares them); the CLI also writes
``metrics.json``, ``metrics.md``, ``examples.png`` (photo | preprocessed | G1 | G2 | ground truth) and
``gallery_curve.png``::

    python -m imagegen.offline.evaluate --checkpoint PATH --data MANIFEST --split test --out DIR [--untrained]
        [--max-photos N] [--embedder VERSION ...] [--items ITEMS.jsonl] [--gallery-sizes 200,500,1000,2000,all]
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
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from imagegen.conditioning import DEFAULT_GARMENTS
from imagegen.offline.data import PairRecord, load_stock, pil_to_uint8, read_manifest, tensor_to_uint8, uint8_to_tensor
from imagegen.offline.evaluation_report import QUERY_LABELS, format_markdown, write_gallery_curve
from imagegen.offline.silhouette import silhouette_report

__all__ = [
    "evaluate", "main", "format_markdown", "retrieval_ranks", "retrieval_metrics", "select_photos", "image_quality",
    "plan_galleries", "unseen_items", "spec_key", "load_items", "QUERY_LABELS",
]

TOP_K: tuple[int, ...] = (1, 5, 20)
QUERIES: tuple[str, ...] = ("photo", "preprocessed", "g1", "g2")
BASELINE_QUERIES: tuple[str, ...] = ("blank",)
ALL_QUERIES: tuple[str, ...] = QUERIES + BASELINE_QUERIES
ATTRIBUTE_QUERIES: tuple[str, ...] = ("g2", "preprocessed", "query")  # the per-pattern / per-garment rows
ATTRIBUTES: tuple[str, ...] = ("pattern", "garment")
SUBSETS: tuple[str, ...] = ("all", "seen", "unseen")
DEFAULT_GALLERY_SIZES: tuple[int | None, ...] = (200, 500, 1000, 2000, None)  # None = every item of the manifest
ALL_LABEL = "all"
TORSO: tuple[str, ...] = ("left_shoulder", "right_shoulder", "left_hip", "right_hip")
GARMENT_KEYPOINTS: dict[str, tuple[str, ...]] = {
    "top": TORSO,
    "bottom": ("left_hip", "right_hip", "left_knee", "right_knee"),
    "whole": TORSO + ("left_knee", "right_knee"),
}
POSE_TOLERANCE = 0.1  # x image height
PSNR_CAP = 100.0
EXAMPLE_CELL = 128
SCORE_EPS = 1e-6  # float32 cosine noise is not a real difference (ties within it are ties)

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


def ranks_from_scores(
    scores: np.ndarray, targets: np.ndarray, columns: np.ndarray | None = None, eps: float = SCORE_EPS
) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` [Q, G], ``targets`` [Q] column indices, ``columns`` an optional bool [G] gallery mask: per query the
    number of gallery columns scoring strictly higher than the target and the number tied with it (within ``eps``)."""
    target = scores[np.arange(len(targets)), targets][:, None]
    above = scores > target + eps
    near = np.abs(scores - target) <= eps
    if columns is not None:
        above &= columns
        near &= columns
    return np.count_nonzero(above, 1), np.count_nonzero(near, 1) - 1  # minus the target itself


def retrieval_ranks(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query: (number of gallery items scoring strictly higher than the target, number tied with it)."""
    scores = queries.astype(np.float64) @ gallery.astype(np.float64).T
    return ranks_from_scores(scores, np.asarray(targets), eps=1e-9)


def _harmonic(n: int) -> np.ndarray:
    """``H[i] = 1 + 1/2 + ... + 1/i`` for i = 0..n."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1, dtype=np.float64))])


def per_query_values(greater: np.ndarray, ties: np.ndarray) -> dict[str, np.ndarray]:
    """Per query: expected top-k hit and reciprocal rank with the target uniform among its ties, and its mid rank."""
    greater = np.asarray(greater, dtype=np.int64)
    ties = np.asarray(ties, dtype=np.int64)
    out = {f"top{k}": np.clip((k - greater) / (ties + 1.0), 0.0, 1.0) for k in TOP_K}
    harmonic = _harmonic(int((greater + ties).max(initial=0)) + 1)
    out["mrr"] = (harmonic[greater + ties + 1] - harmonic[greater]) / (ties + 1.0)
    out["rank"] = greater + ties / 2.0 + 1.0
    return out


def _se(values: np.ndarray) -> float | None:
    n = len(values)
    return None if n == 0 else (0.0 if n == 1 else float(np.std(values, ddof=1) / math.sqrt(n)))


def summarize(values: Mapping[str, np.ndarray], keys: Sequence[str] = ("top1", "top5", "top20", "mrr")) -> dict | None:
    """Means, standard errors and n of per-query values (``None`` when there is no query)."""
    n = len(next(iter(values.values())))
    if n == 0:
        return None
    out: dict[str, Any] = {}
    for key in keys:
        out[key] = float(np.mean(values[key]))
        out[f"{key}_se"] = _se(values[key])
    if "rank" in values:
        out["median_rank"] = float(np.median(values["rank"]))
    out["n"] = int(n)
    return out


def retrieval_metrics(greater: np.ndarray, ties: np.ndarray, gallery_size: int | None = None) -> dict[str, float]:
    """Expected top-k / MRR / median rank when ties are ordered at random (the target uniform among its ties), with
    standard errors (``top1_se`` ...) and ``n``."""
    return summarize(per_query_values(greater, ties)) or {}


def chance_metrics(gallery_size: int) -> dict[str, float]:
    h = _harmonic(gallery_size)
    out = {f"top{k}": min(k, gallery_size) / gallery_size for k in TOP_K}
    out["mrr"] = float(h[gallery_size] / gallery_size)
    out["median_rank"] = (gallery_size + 1) / 2.0
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


# ---------------------------------------------------------------------------------------------- item attributes


def load_items(path: str | Path) -> dict[str, dict]:
    """``items.jsonl`` (one JSON object per item with ``item_id``) -> {item_id: attributes}."""
    items: dict[str, dict] = {}
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {line_no}: not JSON ({e.msg})") from None
            if not isinstance(row, dict) or "item_id" not in row:
                raise ValueError(f"{path}, line {line_no}: expected an object with 'item_id'")
            items[str(row["item_id"])] = row
    return items


def _normalise_items(items: Mapping[str, Mapping] | Iterable[Mapping] | None) -> dict[str, dict]:
    if not items:
        return {}
    if isinstance(items, Mapping):
        return {str(k): dict(v) for k, v in items.items()}
    return {str(row["item_id"]): dict(row) for row in items}


def combination(attrs: Mapping) -> tuple:
    """The combination unseen-ness is judged on: cut x pattern x base colour."""
    return (attrs.get("cut"), attrs.get("pattern"), attrs.get("colour"))


def spec_key(attrs: Mapping) -> tuple:
    """What a shopper can see of an item: two items with the same key are indistinguishable by their spec."""
    pattern = attrs.get("pattern")
    return (
        attrs.get("garment", attrs.get("category")), attrs.get("cut"), attrs.get("colour"), pattern,
        attrs.get("secondary") if pattern != "solid" else None, attrs.get("neckline"), attrs.get("motif") or None,
    )


def unseen_items(
    target_ids: Iterable[str], item_split: Mapping[str, str], items: Mapping[str, Mapping]
) -> tuple[set[str], set[str], int]:
    """(unseen, seen, number of train combinations): a target item is unseen when its cut x pattern x colour occurs
    in no ``train`` item of the manifest. Items without attributes are in neither set."""
    train = {combination(items[i]) for i, s in item_split.items() if s == "train" and i in items}
    unseen, seen = set(), set()
    for item in target_ids:
        if item in items:
            (seen if combination(items[item]) in train else unseen).add(item)
    return unseen, seen, len(train)


# ------------------------------------------------------------------------------------------------------ galleries


@dataclass
class Gallery:
    label: str  # "200", ..., "all"
    columns: np.ndarray  # bool [n_manifest_items]: which catalogue items are in this gallery
    targets: int
    distractors: int

    @property
    def size(self) -> int:
        return int(self.columns.sum())


def plan_galleries(
    n_items: int, target_columns: Sequence[int], sizes: Sequence[int | None] = DEFAULT_GALLERY_SIZES, seed: int = 0
) -> tuple[list[Gallery], list[int]]:
    """Nested galleries over ``n_items`` catalogue items of which ``target_columns`` are the evaluated split's.

    Returns (galleries smallest first with ``all`` last, requested sizes skipped because the manifest is smaller)."""
    targets = np.asarray(sorted(set(int(t) for t in target_columns)), dtype=np.int64)
    is_target = np.zeros(n_items, bool)
    is_target[targets] = True
    distractors = np.flatnonzero(~is_target)
    rng = np.random.default_rng(seed)
    target_order = targets[rng.permutation(len(targets))]
    distractor_order = distractors[rng.permutation(len(distractors))]
    galleries, skipped = [], []
    for n in sorted({int(s) for s in sizes if s is not None}):
        if n > n_items:
            skipped.append(n)
            continue
        if n <= 0:
            continue
        columns = np.zeros(n_items, bool)
        if n >= len(targets):
            columns[targets] = True
            columns[distractor_order[: n - len(targets)]] = True
        else:
            columns[target_order[:n]] = True
        t = min(n, len(targets))
        galleries.append(Gallery(str(n), columns, t, n - t))
    galleries.append(Gallery(ALL_LABEL, np.ones(n_items, bool), len(targets), len(distractors)))
    return galleries, skipped


def ceiling_values(keys: np.ndarray, targets: np.ndarray, columns: np.ndarray) -> dict[str, np.ndarray]:
    """Per query the best any embedder can do when the target is uniform among its spec look-alikes in the gallery."""
    counts = np.bincount(keys[columns], minlength=int(keys.max(initial=0)) + 1)
    group = counts[keys[targets]].astype(np.float64)  # 1 + n_same
    out = {f"top{k}": np.minimum(1.0, k / group) for k in TOP_K}
    out["mrr"] = _harmonic(int(group.max(initial=1)))[group.astype(np.int64)] / group
    out["n_same"] = group - 1
    return out


# ------------------------------------------------------------------------------------------------------ embedders


@dataclass
class _Embedder:
    name: str
    fn: Embed
    gate: Any = None
    # (generated images, preprocessed photos) -> the product's query vectors, for an embedder whose query fuses
    # G2's output with the photo (``search.learned.LearnedEmbedder.photo_weight``); None: the query is G2's output
    query_fn: Any = None


def _resolve_embedders(embed: Any, embedders: Mapping[str, Any] | None) -> list[_Embedder]:
    def wrap(name: str | None, obj: Any) -> _Embedder:
        fn = obj.embed_images if hasattr(obj, "embed_images") else obj
        if not callable(fn):
            raise TypeError(f"embedder {name!r} is neither callable nor has embed_images")
        if name is None:
            name = str(getattr(obj, "version", None) or getattr(obj, "__name__", None) or "custom")
        gate = getattr(obj, "gate", None)
        fuses = float(getattr(obj, "photo_weight", 0.0) or 0.0) > 0 and hasattr(obj, "embed_queries")
        return _Embedder(str(name), fn, gate if hasattr(gate, "is_confident") else None,
                         obj.embed_queries if fuses else None)

    out: list[_Embedder] = []
    if embed is not None:
        out.append(wrap(None, embed))
    for name, obj in (embedders or {}).items():
        out.append(wrap(name, obj))
    if not out:
        from search.embedders import get_embedder

        out.append(wrap(None, get_embedder()))
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"embedder names must be distinct, got {names}")
    return out


def _embed_all(embed: Embed, images: list, batch_size: int) -> np.ndarray:
    parts = [np.asarray(embed(images[i : i + batch_size]), dtype=np.float32) for i in range(0, len(images), batch_size)]
    vectors = np.concatenate(parts, 0).reshape(len(images), -1)
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


# ------------------------------------------------------------------------------------------------------ retrieval


def _gate_report(
    gate: Any, scores: np.ndarray, blank_scores: np.ndarray | None, hit1: np.ndarray, valid: np.ndarray, columns: np.ndarray
) -> dict[str, Any]:
    """Coverage and confident precision of ``gate`` on the g2 queries ``valid`` in the gallery ``columns``."""
    rows = scores[valid][:, columns]
    best_first = -np.sort(-rows, axis=1)
    confident = np.array([bool(gate.is_confident(row)) for row in best_first], dtype=bool)
    blank_confident = blank_scores is not None and bool(gate.is_confident(-np.sort(-blank_scores[columns])))
    n = int(valid.sum())
    hits = hit1[valid][confident]
    return {
        "queries": n,
        "confident": int(confident.sum()),
        "coverage": float(confident.mean()) if n else None,
        "confident_precision": float(hits.mean()) if len(hits) else None,
        "blank_queries": n if blank_scores is not None else 0,
        "blank_confident": n if blank_confident else 0,
    }


def retrieval_report(
    query_vectors: Mapping[str, np.ndarray],
    gallery: np.ndarray,
    targets: np.ndarray,
    galleries: Sequence[Gallery],
    subsets: Mapping[str, np.ndarray | None],
    ceilings: Mapping[str, Mapping[str, dict | None]] | None = None,
    gate: Any = None,
    attribute_groups: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """The whole retrieval report of one embedder from unit vectors.

    ``query_vectors``: kind -> [Q, D] (``blank`` may be a single row); ``gallery``: [n_items, D], one row per manifest
    item; ``targets``: [Q] gallery rows; ``subsets``: name -> bool [Q] (``None``: subset unknown);
    ``ceilings``: subset -> gallery label -> ceiling dict; ``attribute_groups``: attribute -> value -> bool [Q]."""
    q = len(targets)
    n_items = len(gallery)
    in_gallery = {g.label: g.columns[targets] for g in galleries}
    column_matrix = np.stack([g.columns for g in galleries], 1).astype(np.float32)  # [n_items, n_galleries]
    curves: dict[str, Any] = {name: ({} if mask is not None else None) for name, mask in subsets.items()}
    by_attribute: dict[str, Any] | None = None
    gates: dict[str, Any] = {}
    g2_top1_at_all = np.zeros(q)
    gate_kind = "query" if "query" in query_vectors else "g2"  # the gate judges what the product queries with
    blank_scores = (np.asarray(query_vectors["blank"], dtype=np.float32)[0] @ gallery.T
                    if "blank" in query_vectors else None)
    for kind, vectors in query_vectors.items():
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(vectors) == 1 and q != 1:
            vectors = np.repeat(vectors, q, 0)
        scores = vectors @ gallery.T  # float32 [Q, n_items]
        # Which columns beat / tie each query's target, counted for every gallery at once by one matrix product
        # (float32 sums of 0/1 are exact far beyond any catalogue size).
        target_scores = scores[np.arange(q), targets][:, None]
        above = (scores > target_scores + SCORE_EPS).astype(np.float32)
        near = (np.abs(scores - target_scores) <= SCORE_EPS).astype(np.float32)
        greater_all = np.rint(above @ column_matrix).astype(np.int64)  # [Q, n_galleries]
        ties_all = np.rint(near @ column_matrix).astype(np.int64) - 1  # minus the target itself
        del above, near
        for gi, g in enumerate(galleries):
            values = per_query_values(greater_all[:, gi], np.maximum(ties_all[:, gi], 0))
            for name, mask in subsets.items():
                if mask is None:
                    continue
                entry = curves[name].setdefault(g.label, _curve_entry(g, mask & in_gallery[g.label], ceilings, name))
                entry["queries"][kind] = summarize({k: v[mask & in_gallery[g.label]] for k, v in values.items()})
            if g.label == ALL_LABEL and attribute_groups and kind in ATTRIBUTE_QUERIES:
                by_attribute = by_attribute if by_attribute is not None else {}
                for attr, groups in attribute_groups.items():
                    rows = by_attribute.setdefault(attr, {})
                    for value, mask in groups.items():
                        rows.setdefault(value, {})[kind] = summarize(
                            {k: v[mask] for k, v in values.items()}, keys=("top1", "top5", "mrr"))
            if kind == "g2" and g.label == ALL_LABEL:
                g2_top1_at_all = values["top1"]
            if kind == gate_kind:
                if gate is not None:
                    gates[g.label] = _gate_report(gate, scores, blank_scores, values["top1"], in_gallery[g.label],
                                                  g.columns)
        del scores
    for name, per_size in curves.items():
        for entry in (per_size or {}).values():
            g2, ceiling = entry["queries"].get("g2"), entry["ceiling"]
            entry["g2_fraction_of_ceiling"] = (
                g2["top1"] / ceiling["top1"] if g2 and ceiling and ceiling["top1"] else None)
    return {"curves": curves, "by_attribute": by_attribute, "gate": gates if gate is not None else None,
            "gallery_items": n_items, "g2_top1_at_all": g2_top1_at_all}


def _curve_entry(g: Gallery, mask: np.ndarray, ceilings: Mapping | None, subset: str) -> dict[str, Any]:
    ceiling = (ceilings or {}).get(subset, {}) or {}
    return {
        "gallery_items": g.size,
        "queries_n": int(mask.sum()),
        "chance": chance_metrics(g.size),
        "ceiling": ceiling.get(g.label),
        "queries": {},
    }


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
    embedders: Mapping[str, Any] | None = None,
    items: Mapping[str, Mapping] | Iterable[Mapping] | None = None,
    gallery_sizes: Sequence[int | None] = DEFAULT_GALLERY_SIZES,
    gallery_seed: int = 0,
    preprocessor: Callable[..., Any] | None = None,
    batch_size: int = 32,
    n_examples: int = 8,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``generator`` on the ``split`` photos of ``records``; return a JSON-able metrics dict.

    ``generator`` needs ``forward_preprocessed(Tensor[N,3,S,S]) -> (g1, g2)`` and ``info["image_size"]``; if it
    has a non-empty ``garments`` (a garment-conditioned model, ``GANConfig.garments``), each batch also gets its
    photos' garment types as ``forward_preprocessed(batch, garments)``, as at inference.
    ``embed`` (a function of PIL images) and/or ``embedders`` (name -> function or object with ``embed_images`` and
    optionally ``gate``) are the embedders judged, the first one being the headline; neither means
    ``search.embedders.get_embedder()``. ``preprocessor`` defaults to ``imagegen.preprocess.get_preprocessor(S)``
    (any ``(PIL, garment) -> PreprocessResult``-like callable works). ``items``: item attributes (item_id -> dict, as in
    ``items.jsonl``) for the per-attribute rows, the unseen-combination split and the ceiling.
    ``gallery_sizes``: the curve's gallery sizes (``None`` = every item of ``records``), ``gallery_seed`` the
    seed of the distractor / target choice. ``max_photos`` evaluates a deterministic subset of photos spread over
    items; galleries do not change. With ``out_dir``, writes ``metrics.json``, ``metrics.md``, ``examples.png`` and
    ``gallery_curve.png`` there.
    """
    import torch
    from PIL import Image
    from tqdm.auto import tqdm

    from imagegen.images import load_image

    t_start = time.perf_counter()
    in_split = [r for r in records if split is None or r.split == split]
    if not in_split:
        raise ValueError(f"no records in split {split!r}")
    size = _image_size(generator)
    models = _resolve_embedders(embed, embedders)
    attrs = _normalise_items(items)
    if preprocessor is None:
        from imagegen.preprocess import get_preprocessor

        preprocessor = get_preprocessor(size)

    # The catalogue: one stock image per item of the WHOLE manifest (the first record's), sorted by item id. The
    # evaluated split's items are the targets, the others are distractors.
    catalogue: dict[str, Path] = {}
    item_split: dict[str, str] = {}
    for r in sorted(records, key=lambda r: (r.item_id, str(r.photo))):
        catalogue.setdefault(r.item_id, r.stock)
        item_split.setdefault(r.item_id, r.split)
    catalogue_ids = sorted(catalogue)
    column = {item: i for i, item in enumerate(catalogue_ids)}
    target_ids = sorted({r.item_id for r in in_split})
    galleries, skipped = plan_galleries(len(catalogue_ids), [column[i] for i in target_ids], gallery_sizes,
                                        gallery_seed)
    chosen = select_photos(in_split, max_photos)
    targets = np.array([column[r.item_id] for r in chosen], dtype=np.int64)
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
    raw_vectors: dict[str, list[np.ndarray]] = {m.name: [] for m in models}
    raw_buffer: list = []

    def flush_raw() -> None:
        for m in models:
            raw_vectors[m.name].append(_embed_all(m.fn, raw_buffer, batch_size))
        raw_buffer.clear()

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
            flush_raw()
    if raw_buffer:
        flush_raw()
    timings["preprocess_s"] = time.perf_counter() - t0

    # 2. Generate in batches.
    t0 = time.perf_counter()
    g1_out, g2_out = [], []
    device = getattr(generator, "device", None)
    conditioned = bool(getattr(generator, "garments", ()))  # duck-typed generators without it keep the 1-arg call
    with torch.no_grad():
        for i in range(0, len(photos), batch_size):
            batch = torch.stack([uint8_to_tensor(p.preprocessed) for p in photos[i : i + batch_size]])
            if device is not None:
                batch = batch.to(device)
            if conditioned:
                g1, g2 = generator.forward_preprocessed(batch, [p.record.garment for p in photos[i : i + batch_size]])
            else:
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
    blank_arr = np.full((1, size, size, 3), 255, np.uint8)
    quality = {
        "preprocessed": image_quality(prep_arr, truths),
        "g1": image_quality(g1_arr, truths),
        "g2": image_quality(g2_arr, truths),
        "blank": image_quality(np.broadcast_to(blank_arr, truths.shape), truths),
    }
    garment_of = np.array([p.record.garment for p in photos])
    quality_by_garment = {
        g: {"photos": int((garment_of == g).sum()),
            **{kind: image_quality(arr[garment_of == g], truths[garment_of == g])
               for kind, arr in (("blank", np.broadcast_to(blank_arr, truths.shape)), ("g1", g1_arr), ("g2", g2_arr))}}
        for g in sorted(set(garment_of.tolist()))
    }
    timings["quality_s"] = time.perf_counter() - t0

    # 3b. Garment conditioning: every photo preprocessed and generated once per type the model knows, as the product
    #     does when a user asks for that type (the crop follows the type, and so does the FiLM class). Is the output's
    #     silhouette the requested type's, and do one photo's outputs differ by type? A v1 model ignores the class,
    #     so for it only the crop changes: the baseline that shows what the conditioning adds.
    conditioning: dict[str, Any] | None = None
    per_type: dict[str, np.ndarray] = {}
    per_type_crops: dict[str, list[np.ndarray]] = {}
    types = tuple(generator.garments) if conditioned else DEFAULT_GARMENTS
    if len({p.record.garment for p in photos}) > 1:  # the check needs ground truths of more than one type
        t0 = time.perf_counter()
        for g in types:
            crops = [p.preprocessed if p.record.garment == g
                     else pil_to_uint8(preprocessor(load_image(p.record.photo), g).image, size) for p in photos]
            outs = []
            with torch.no_grad():
                for i in range(0, len(crops), batch_size):
                    batch = torch.stack([uint8_to_tensor(c) for c in crops[i : i + batch_size]])
                    if device is not None:
                        batch = batch.to(device)
                    out = (generator.forward_preprocessed(batch, [g] * len(batch)) if conditioned
                           else generator.forward_preprocessed(batch))
                    outs.extend(tensor_to_uint8(t) for t in out[1])
            per_type[g], per_type_crops[g] = np.stack(outs), crops
        bank_paths = sorted({p.record.stock: p.record.garment for p in photos}.items(), key=lambda kv: str(kv[0]))
        conditioning = silhouette_report(per_type, np.stack([truth_cache[path] for path, _ in bank_paths]),
                                         [g for _, g in bank_paths])
        conditioning["conditioned"] = conditioned
        timings["conditioning_s"] = time.perf_counter() - t0

    # 4. Embed the catalogue (streamed: a large catalogue of full-size stock images would not fit) and the queries.
    t0 = time.perf_counter()
    gallery_parts: dict[str, list[np.ndarray]] = {m.name: [] for m in models}
    for i in tqdm(range(0, len(catalogue_ids), batch_size), desc="catalogue", unit="batch", disable=not progress):
        images = [load_image(catalogue[item]) for item in catalogue_ids[i : i + batch_size]]
        for m in models:
            gallery_parts[m.name].append(_embed_all(m.fn, images, batch_size))
    gallery_vectors = {name: np.concatenate(parts, 0) for name, parts in gallery_parts.items()}
    query_images = {
        "preprocessed": [Image.fromarray(a) for a in prep_arr],
        "g1": [Image.fromarray(a) for a in g1_arr],
        "g2": [Image.fromarray(a) for a in g2_arr],
        "blank": [Image.fromarray(blank_arr[0])],
    }
    all_query_vectors: dict[str, dict[str, np.ndarray]] = {}
    for m in models:
        all_query_vectors[m.name] = {"photo": np.concatenate(raw_vectors[m.name], 0)}
        for kind, images in query_images.items():
            all_query_vectors[m.name][kind] = _embed_all(m.fn, images, batch_size)
        if m.query_fn is not None:  # the product's query: G2's output fused with the photo it was made from
            pairs = list(zip(query_images["g2"], query_images["preprocessed"]))
            all_query_vectors[m.name]["query"] = _embed_all(
                lambda chunk: m.query_fn([g for g, _ in chunk], [p for _, p in chunk]), pairs, batch_size)
    del query_images
    timings["embed_s"] = time.perf_counter() - t0

    # 5. Subsets, attributes and the ceiling (embedder-independent).
    t0 = time.perf_counter()
    query_items = [r.item_id for r in chosen]
    unseen_report: dict[str, Any] | None = None
    subsets: dict[str, np.ndarray | None] = {"all": np.ones(len(chosen), bool), "seen": None, "unseen": None}
    attribute_groups: dict[str, dict[str, np.ndarray]] | None = None
    ceilings: dict[str, dict[str, dict | None]] | None = None
    with_attrs = [i for i in catalogue_ids if i in attrs]
    if with_attrs:
        unseen, seen, n_train = unseen_items(target_ids, item_split, attrs)
        subsets["unseen"] = np.array([i in unseen for i in query_items], bool)
        subsets["seen"] = np.array([i in seen for i in query_items], bool)
        flagged = {i for i in target_ids if i in attrs and attrs[i].get("unseen_combination")}
        unseen_report = {
            "train_combinations": n_train,
            "target_items": len(target_ids),
            "unseen_items": len(unseen),
            "seen_items": len(seen),
            "items_without_attributes": sum(i not in attrs for i in target_ids),
            "flagged_items": len(flagged),
            "flagged_but_seen": len(flagged & seen),
            "unseen_not_flagged": len(unseen - flagged),
            "queries": {"seen": int(subsets["seen"].sum()), "unseen": int(subsets["unseen"].sum())},
        }
        attribute_groups = {}
        for attr in ATTRIBUTES:
            values = [attrs.get(i, {}).get(attr, attrs.get(i, {}).get("category") if attr == "garment" else None)
                      for i in query_items]
            attribute_groups[attr] = {
                str(v): np.array([x == v for x in values], bool) for v in sorted({v for v in values if v is not None},
                                                                                  key=str)}
        key_codes: dict[tuple, int] = {}
        keys = np.array([key_codes.setdefault(spec_key(attrs[i]) if i in attrs else ("__no_attributes__", i),
                                              len(key_codes)) for i in catalogue_ids], dtype=np.int64)
        ceilings = {}
        for name, mask in subsets.items():
            if mask is None:
                continue
            ceilings[name] = {}
            for g in galleries:
                valid = mask & g.columns[targets]
                values = ceiling_values(keys, targets[valid], g.columns)
                summary = summarize(values, keys=("top1", "top5", "top20", "mrr"))
                if summary is not None:
                    summary["mean_n_same"] = float(np.mean(values["n_same"]))
                    summary["queries_with_lookalikes"] = int(np.count_nonzero(values["n_same"]))
                ceilings[name][g.label] = summary

    # 6. Retrieval per embedder: one score matrix per query kind, masked per gallery size.
    reports = {
        m.name: retrieval_report(
            all_query_vectors[m.name], gallery_vectors[m.name], targets, galleries, subsets, ceilings, m.gate,
            attribute_groups,
        )
        for m in models
    }
    timings["retrieval_s"] = time.perf_counter() - t0
    del all_query_vectors, gallery_vectors

    first = reports[models[0].name]
    head = first["curves"]["all"][ALL_LABEL]
    retrieval = {  # the headline: the first embedder, the largest gallery, all queries (the v1 shape, extended)
        "gallery_items": head["gallery_items"],
        "chance": head["chance"],
        "ceiling": head["ceiling"],
        "queries": head["queries"],
    }
    g2_hit = first.pop("g2_top1_at_all")  # per photo, for the captions of examples.png

    preprocessing = {
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
    timings["total_s"] = time.perf_counter() - t_start

    g2_by_gallery = {label: (e["queries"].get("g2") or {}).get("top1") for label, e in first["curves"]["all"].items()}
    unseen_head = (first["curves"]["unseen"] or {}).get(ALL_LABEL)
    metrics: dict[str, Any] = {
        "split": split,
        "photos": len(photos),
        "photos_in_split": len(in_split),
        "items": len({p.record.item_id for p in photos}),
        "image_size": size,
        "model": _model_info(generator),
        "embedder": models[0].name,
        "embedders": [m.name for m in models],
        "summary": {
            "embedder": models[0].name,
            "gallery_items": head["gallery_items"],
            "g2_top1": head["queries"]["g2"]["top1"],
            "g2_top1_se": head["queries"]["g2"]["top1_se"],
            "g2_top5": head["queries"]["g2"]["top5"],
            "photo_top1": head["queries"]["photo"]["top1"],
            "preprocessed_top1": head["queries"]["preprocessed"]["top1"],
            "blank_top1": head["queries"]["blank"]["top1"],
            "chance_top1": head["chance"]["top1"],
            "ceiling_top1": (head["ceiling"] or {}).get("top1"),
            "g2_fraction_of_ceiling": head["g2_fraction_of_ceiling"],
            "unseen_g2_top1": ((unseen_head or {}).get("queries", {}).get("g2") or {}).get("top1"),
            "g2_ssim": quality["g2"]["ssim"],
            "g2_psnr": quality["g2"]["psnr"],
            "g2_top1_by_gallery": g2_by_gallery,
            # the product's query, where the first embedder fuses G2's output with the photo (else None)
            "query_top1": (head["queries"].get("query") or {}).get("top1"),
            "query_top5": (head["queries"].get("query") or {}).get("top5"),
            "query_top1_by_gallery": {label: (e["queries"].get("query") or {}).get("top1")
                                      for label, e in first["curves"]["all"].items()},
        },
        "gallery": {
            "manifest_items": len(catalogue_ids),
            "target_items": len(target_ids),
            "distractor_pool": len(catalogue_ids) - len(target_ids),
            "seed": gallery_seed,
            "requested": [ALL_LABEL if s is None else int(s) for s in gallery_sizes],
            "skipped": skipped,
            "sizes": {g.label: {"gallery_items": g.size, "target_items": g.targets, "distractor_items": g.distractors,
                                "queries": int(g.columns[targets].sum())} for g in galleries},
        },
        "retrieval": retrieval,
        "curves": {name: rep["curves"] for name, rep in reports.items()},
        "by_attribute": {name: rep["by_attribute"] for name, rep in reports.items()} if attribute_groups else None,
        "unseen_combinations": unseen_report,
        "gates": {name: {"threshold": getattr(m.gate, "threshold", None), "margin": getattr(m.gate, "margin", None),
                         "by_gallery": reports[name]["gate"]}
                  for m in models if m.gate is not None for name in [m.name]},
        "attributes": {"items_with_attributes": len(with_attrs), "catalogue_items": len(catalogue_ids)},
        "image_quality": {**quality, "l2_scale": "MSE on RGB in [0, 1]", "by_garment": quality_by_garment},
        "garment_conditioning": conditioning,
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
                 f"item {photos[i].record.item_id}" + ("  (G2 top-1 hit)" if g2_hit[i] >= 1 else ""))
                for i in example_rows
            ]
        )
        grid.save(out / "examples.png")
        if per_type:
            examples_grid(
                [(photos[i].thumbnail,
                  *(a for g in types for a in (per_type_crops[g][i], per_type[g][i])),
                  f"item {photos[i].record.item_id}, a {photos[i].record.garment}")
                 for i in example_rows],
                headers=("photo", *(h for g in types for h in (f"crop as {g}", f"G2 as {g}"))),
            ).save(out / "conditioning.png")
        metrics["files"] = {
            "metrics_json": str(out / "metrics.json"),
            "metrics_md": str(out / "metrics.md"),
            "examples_png": str(out / "examples.png"),
            "gallery_curve_png": str(out / "gallery_curve.png"),
            **({"conditioning_png": str(out / "conditioning.png")} if per_type else {}),
        }
        write_gallery_curve(metrics, out / "gallery_curve.png")
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


def examples_grid(rows: Sequence[tuple], cell: int = EXAMPLE_CELL,
                  headers: Sequence[str] = ("photo", "preprocessed", "G1", "G2", "ground truth")):
    """Columns: photo | preprocessed | G1 | G2 | ground truth by default; each row is
    ``(raw PIL thumbnail, *uint8 arrays, caption)``, one array per header after the first."""
    from PIL import Image, ImageDraw

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


# ------------------------------------------------------------------------------------------------------------ CLI


def _load_generator(checkpoint: Path | None, untrained: bool, image_size: int):
    from imagegen.generator import StockImageGenerator

    if untrained:
        return StockImageGenerator.untrained(image_size=image_size, seed=0)
    return StockImageGenerator.from_checkpoint(checkpoint)


def _parse_sizes(text: str) -> tuple[int | None, ...]:
    sizes: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == ALL_LABEL:
            sizes.append(None)
            continue
        try:
            n = int(part.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a gallery size: {part!r} (give numbers or 'all')") from None
        if n <= 0:
            raise argparse.ArgumentTypeError(f"gallery size must be positive, got {n}")
        sizes.append(n)
    if not sizes:
        raise argparse.ArgumentTypeError("no gallery size given")
    return tuple(sizes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagegen.offline.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="generator checkpoint (.pt)")
    parser.add_argument("--untrained", action="store_true", help="evaluate an untrained generator (a baseline)")
    parser.add_argument("--image-size", type=int, default=64, help="image size of the untrained generator")
    parser.add_argument("--data", type=Path, required=True, help="manifest (.jsonl or .csv)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for metrics.json, metrics.md, examples.png, gallery_curve.png")
    parser.add_argument("--max-photos", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embedder", action="append", default=None, metavar="VERSION",
                        help="search embedder version to judge (repeatable; default: the active one)")
    parser.add_argument("--items", type=Path, default=None,
                        help="item attributes (default: items.jsonl beside the manifest, when it exists)")
    parser.add_argument("--gallery-sizes", type=_parse_sizes, default=DEFAULT_GALLERY_SIZES,
                        help="comma-separated gallery sizes, 'all' = every manifest item "
                             "(default 200,500,1000,2000,all)")
    parser.add_argument("--gallery-seed", type=int, default=0, help="seed of the distractor choice")
    args = parser.parse_args(argv)
    if not args.untrained and args.checkpoint is None:
        parser.error("give --checkpoint PATH or --untrained")
    try:
        from search.embedders import get_embedder

        records = read_manifest(args.data)
        items_path = args.items or args.data.parent / "items.jsonl"
        if args.items is not None and not items_path.is_file():
            raise ValueError(f"items file not found: {items_path}")
        items = load_items(items_path) if items_path.is_file() else None
        versions = list(dict.fromkeys(args.embedder or [None]))
        resolved = [get_embedder(v) for v in versions]
        embedders = {e.version: e for e in resolved}
        generator = _load_generator(args.checkpoint, args.untrained, args.image_size)
        metrics = evaluate(
            generator, records, split=args.split, out_dir=args.out, max_photos=args.max_photos,
            embedders=embedders, items=items, gallery_sizes=args.gallery_sizes, gallery_seed=args.gallery_seed,
            batch_size=args.batch_size, progress=True,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_markdown(metrics))
    print(f"wrote {args.out / 'metrics.json'}, {args.out / 'metrics.md'}, {args.out / 'examples.png'}, "
          f"{args.out / 'gallery_curve.png'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
