"""The retrieval half of a generator's evaluation: does searching the catalogue with the generated stock image find
the right product? Offline ML above both packages: the queries are ``imagegen``'s outputs, the embedders
``search``'s (``search.embedders.get_embedder()`` when the caller names none). ``offline.evaluate_generator``
runs it after ``imagegen.offline.evaluate`` has drawn the images.

The headline numbers are top-k accuracies of these queries ranked against the same galleries:

* ``photo``         the raw street photo (what search would do without any of this),
* ``preprocessed``  the preprocessor's garment crop on white (what preprocessing alone buys),
* ``g1``            the first-stage generator output,
* ``g2``            the two-stage output (what production shows and searches with),
* ``query``         for an embedder that fuses G2's output with the preprocessed photo (a ``photo_weight``): the
                    product's query,
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

Item attributes (``items.jsonl`` beside the manifest, written by ``imagegen.offline.synth``) add: per-pattern and
per-garment rows (at the ``all`` gallery), the curve split into ``seen`` and ``unseen`` cut x pattern x colour
combinations (unseen: the combination occurs in no ``train`` item of the manifest, computed from the attributes), and
the CEILING: per query, ``n_same`` = other gallery items whose spec (garment, cut, colour, pattern, secondary colour
unless solid, neckline, motif) equals the target's; no embedding can tell those apart, so the best expected top-k is
``mean(min(1, k / (1 + n_same)))`` and the best MRR ``mean(H(1 + n_same) / (1 + n_same))``. Without attributes these
are ``None``.

Several embedders can be judged in one run (the generator runs once). An embedder object with a ``gate``
(``search.embedders.ConfidenceGate``) also gets, per gallery size, the gate's coverage on the queries it judges (the
product's ``query`` where there is one, else G2's output: fraction judged confident), its confident precision
(fraction of those whose top-1 is the target) and how many blank queries it judges confident (a good gate: none).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from imagegen.images import load_image
from imagegen.offline.data import PairRecord
from search.embedders import get_embedder

__all__ = [
    "retrieval_ranks", "retrieval_metrics", "ranks_from_scores", "per_query_values", "summarize", "chance_metrics",
    "load_items", "spec_key", "unseen_items", "Gallery", "plan_galleries", "ceiling_values", "Catalogue",
    "catalogue_of", "Embedder", "resolve_embedders", "RawPhotoEmbeddings", "embed_catalogue", "embed_queries",
    "ItemBreakdown", "item_breakdown", "retrieval_report",
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
SCORE_EPS = 1e-6  # float32 cosine noise is not a real difference (ties within it are ties)

Embed = Callable[[list], np.ndarray]


# ------------------------------------------------------------------------------------------------------- metrics


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


def normalise_items(items: Mapping[str, Mapping] | Iterable[Mapping] | None) -> dict[str, dict]:
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
class Embedder:
    name: str
    fn: Embed
    gate: Any = None
    # (generated images, preprocessed photos) -> the product's query vectors, for an embedder whose query fuses
    # G2's output with the photo (``search.learned.LearnedEmbedder.photo_weight``); None: the query is G2's output
    query_fn: Any = None


def resolve_embedders(embed: Any, embedders: Mapping[str, Any] | None) -> list[Embedder]:
    """``embed`` (a function of PIL images) and/or ``embedders`` (name -> function or object with ``embed_images`` and
    optionally ``gate``, ``photo_weight`` and ``embed_queries``), the first one being the headline; neither means
    ``search.embedders.get_embedder()``."""

    def wrap(name: str | None, obj: Any) -> Embedder:
        fn = obj.embed_images if hasattr(obj, "embed_images") else obj
        if not callable(fn):
            raise TypeError(f"embedder {name!r} is neither callable nor has embed_images")
        if name is None:
            name = str(getattr(obj, "version", None) or getattr(obj, "__name__", None) or "custom")
        gate = getattr(obj, "gate", None)
        fuses = float(getattr(obj, "photo_weight", 0.0) or 0.0) > 0 and hasattr(obj, "embed_queries")
        return Embedder(str(name), fn, gate if hasattr(gate, "is_confident") else None,
                         obj.embed_queries if fuses else None)

    out: list[Embedder] = []
    if embed is not None:
        out.append(wrap(None, embed))
    for name, obj in (embedders or {}).items():
        out.append(wrap(name, obj))
    if not out:
        out.append(wrap(None, get_embedder()))
    names = [e.name for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"embedder names must be distinct, got {names}")
    return out


def embed_all(embed: Embed, images: list, batch_size: int) -> np.ndarray:
    parts = [np.asarray(embed(images[i : i + batch_size]), dtype=np.float32) for i in range(0, len(images), batch_size)]
    vectors = np.concatenate(parts, 0).reshape(len(images), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)  # cosine, whatever the embedder promises


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



# --------------------------------------------------------------------------------------------- the evaluation's run


@dataclass
class Catalogue:
    """One stock image per item of the WHOLE manifest (the first record's, in (item, photo path) order), sorted by
    item id: the evaluated split's items are the targets, the others are distractors."""

    stock: dict[str, Path]  # item id -> its catalogue image
    split: dict[str, str]  # item id -> its split
    ids: list[str]  # sorted: gallery column i is item ids[i]
    column: dict[str, int]


def catalogue_of(records: Sequence[PairRecord]) -> Catalogue:
    stock: dict[str, Path] = {}
    split: dict[str, str] = {}
    for r in sorted(records, key=lambda r: (r.item_id, str(r.photo))):
        stock.setdefault(r.item_id, r.stock)
        split.setdefault(r.item_id, r.split)
    ids = sorted(stock)
    return Catalogue(stock, split, ids, {item: i for i, item in enumerate(ids)})


class RawPhotoEmbeddings:
    """The raw street photos' vectors of every embedder, embedded ``batch_size`` photos at a time as they come
    (``add``; ``flush`` after the last one): a large test set's full-size photos would not fit in memory at once."""

    def __init__(self, models: Sequence[Embedder], batch_size: int):
        self.models, self.batch_size = list(models), batch_size
        self._parts: dict[str, list[np.ndarray]] = {m.name: [] for m in self.models}
        self._buffer: list = []

    def add(self, image: Any) -> None:
        self._buffer.append(image)
        if len(self._buffer) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._buffer:
            return
        for m in self.models:
            self._parts[m.name].append(embed_all(m.fn, self._buffer, self.batch_size))
        self._buffer.clear()

    def vectors(self, name: str) -> np.ndarray:
        return np.concatenate(self._parts[name], 0)


def embed_catalogue(models: Sequence[Embedder], catalogue: Catalogue, batch_size: int,
                    progress: bool = False) -> dict[str, np.ndarray]:
    """Embedder name -> unit vectors [n_items, D] of the catalogue images, streamed (a large catalogue of full-size
    stock images would not fit)."""
    parts: dict[str, list[np.ndarray]] = {m.name: [] for m in models}
    ids = catalogue.ids
    for i in tqdm(range(0, len(ids), batch_size), desc="catalogue", unit="batch", disable=not progress):
        images = [load_image(catalogue.stock[item]) for item in ids[i : i + batch_size]]
        for m in models:
            parts[m.name].append(embed_all(m.fn, images, batch_size))
    return {name: np.concatenate(p, 0) for name, p in parts.items()}


def embed_queries(models: Sequence[Embedder], raw: RawPhotoEmbeddings, preprocessed: np.ndarray, g1: np.ndarray,
                  g2: np.ndarray, blank: np.ndarray, batch_size: int) -> dict[str, dict[str, np.ndarray]]:
    """Embedder name -> query kind -> unit vectors: the raw photos (already embedded), the uint8 [N, S, S, 3]
    preprocessed crops and G1 / G2 outputs, the one blank image and, for an embedder whose query fuses G2's output
    with the photo it was made from, the product's ``query``."""
    query_images = {
        "preprocessed": [Image.fromarray(a) for a in preprocessed],
        "g1": [Image.fromarray(a) for a in g1],
        "g2": [Image.fromarray(a) for a in g2],
        "blank": [Image.fromarray(blank[0])],
    }
    out: dict[str, dict[str, np.ndarray]] = {}
    for m in models:
        out[m.name] = {"photo": raw.vectors(m.name)}
        for kind, images in query_images.items():
            out[m.name][kind] = embed_all(m.fn, images, batch_size)
        if m.query_fn is not None:  # the product's query: G2's output fused with the photo it was made from
            pairs = list(zip(query_images["g2"], query_images["preprocessed"]))
            out[m.name]["query"] = embed_all(
                lambda chunk: m.query_fn([g for g, _ in chunk], [p for _, p in chunk]), pairs, batch_size)
    return out


@dataclass
class ItemBreakdown:
    """The embedder-independent part of the retrieval report: which queries fall in which subset and attribute
    group, and the ceiling. Without item attributes only the ``all`` subset is known and the rest is ``None``."""

    subsets: dict[str, np.ndarray | None]  # all / seen / unseen -> bool [Q]
    attribute_groups: dict[str, dict[str, np.ndarray]] | None = None  # attribute -> value -> bool [Q]
    ceilings: dict[str, dict[str, dict | None]] | None = None  # subset -> gallery label -> ceiling
    unseen_report: dict[str, Any] | None = None
    items_with_attributes: int = 0


def item_breakdown(query_items: Sequence[str], targets: np.ndarray, target_ids: Sequence[str], catalogue: Catalogue,
                   attrs: Mapping[str, Mapping], galleries: Sequence[Gallery]) -> ItemBreakdown:
    """Subsets, attribute groups and the ceiling of the queries (``query_items``: each query's item id, ``targets``:
    its gallery column) from the item attributes ``attrs``."""
    subsets: dict[str, np.ndarray | None] = {"all": np.ones(len(query_items), bool), "seen": None, "unseen": None}
    with_attrs = [i for i in catalogue.ids if i in attrs]
    if not with_attrs:
        return ItemBreakdown(subsets)
    unseen, seen, n_train = unseen_items(target_ids, catalogue.split, attrs)
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
    attribute_groups: dict[str, dict[str, np.ndarray]] = {}
    for attr in ATTRIBUTES:
        values = [attrs.get(i, {}).get(attr, attrs.get(i, {}).get("category") if attr == "garment" else None)
                  for i in query_items]
        attribute_groups[attr] = {
            str(v): np.array([x == v for x in values], bool) for v in sorted({v for v in values if v is not None},
                                                                              key=str)}
    key_codes: dict[tuple, int] = {}
    keys = np.array([key_codes.setdefault(spec_key(attrs[i]) if i in attrs else ("__no_attributes__", i),
                                          len(key_codes)) for i in catalogue.ids], dtype=np.int64)
    ceilings: dict[str, dict[str, dict | None]] = {}
    for name, mask in subsets.items():
        if mask is None:
            continue
        ceilings[name] = {}
        for g in galleries:
            valid = mask & g.columns[targets]
            ceiling = ceiling_values(keys, targets[valid], g.columns)
            summary = summarize(ceiling, keys=("top1", "top5", "top20", "mrr"))
            if summary is not None:
                summary["mean_n_same"] = float(np.mean(ceiling["n_same"]))
                summary["queries_with_lookalikes"] = int(np.count_nonzero(ceiling["n_same"]))
            ceilings[name][g.label] = summary
    return ItemBreakdown(subsets, attribute_groups, ceilings, unseen_report, len(with_attrs))
