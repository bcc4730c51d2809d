"""Writing a street-to-shop dataset to disk: stock images, photos, masks, manifest, items, contact sheet.

Determinism: item ``i`` is ``make_item(seed, i, data_version)`` and its photo ``k`` is drawn from the random
stream seeded by ``(seed, i, k)``, so the files do not depend on the worker count or on which
worker drew what. Splits are a seeded permutation of item indices cut by ``split``: a test item
never has a photo in train (retrieval is judged on unseen items).

Parallelism: a spawn-safe ``multiprocessing`` Pool over chunks of items. A chunk keeps one
item's canvas in the worker's cache for all of that item's photos and amortises the per-task
pickling; the parent only receives small manifest rows.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .canvas import render_stock
from .garments import PALETTE, PATTERNS, make_item
from .photo import render_photo
from .versions import data_version as version_of

try:  # optional: a progress bar when installed, else a plain counter (the CLI must not depend on it)
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is installed in the dev environment
    tqdm = None

PHOTO_TAG = 0xF0  # mixed into photo seeds so they never coincide with item seeds


def photo_seed(seed: int, item_index: int, photo_index: int) -> list[int]:
    return [int(seed), int(item_index), int(photo_index), PHOTO_TAG]


def assign_splits(n_items: int, seed: int, split=(0.8, 0.1, 0.1)) -> list[str]:
    """Split name per item index: a seeded permutation cut into blocks (exact sizes, by item)."""
    fr = np.asarray(split, np.float64)
    fr = fr / fr.sum()
    n_val = int(round(n_items * fr[1]))
    n_test = int(round(n_items * fr[2]))
    if n_items >= 3:  # tiny datasets still get one item in each non-empty split
        n_val = max(n_val, 1 if fr[1] > 0 else 0)
        n_test = max(n_test, 1 if fr[2] > 0 else 0)
    n_train = max(n_items - n_val - n_test, 0)
    names = ["train"] * n_train + ["val"] * n_val + ["test"] * n_test
    perm = np.random.default_rng([int(seed), 0x5B1]).permutation(n_items)
    out = [""] * n_items
    for pos, idx in enumerate(perm):
        out[idx] = names[pos] if pos < len(names) else "train"
    return out


def combination(spec) -> tuple[str, str, str]:
    """The attribute combination an item is held out by: cut x pattern x base colour."""
    return (spec.cut, spec.pattern, spec.colour)


def held_out_combinations(seed: int, fraction: float, data_version: int = 1) -> set[tuple[str, str, str]]:
    """A seeded ``fraction`` of every possible cut x pattern x colour combination, never drawn into train or val.

    Items with such a combination all go to the test split, so the evaluation can ask whether search finds products
    whose *combination* it has never seen, not just products it has never seen (87 % of randomly held-out items share
    cut, pattern and colour with a training item). Each data version draws from its own list of cuts."""
    if fraction <= 0:
        return set()
    combos = [(c, p, col) for c in version_of(data_version).cuts for p in PATTERNS for col in PALETTE]
    rng = np.random.default_rng([int(seed), 0xC0B0])
    n = int(round(len(combos) * min(float(fraction), 1.0)))
    return {combos[i] for i in rng.permutation(len(combos))[:n]}


def assign_splits_with_holdout(n_items: int, seed: int, split=(0.8, 0.1, 0.1),
                               holdout_fraction: float = 0.0, data_version: int = 1) -> list[str]:
    """``assign_splits``, then every item whose combination is held out moves to test (and no such item stays in
    train or val). With ``holdout_fraction`` 0 this is exactly ``assign_splits``."""
    splits = assign_splits(n_items, seed, split)
    held = held_out_combinations(seed, holdout_fraction, data_version)
    if not held:
        return splits
    return ["test" if combination(make_item(seed, i, data_version)) in held else s for i, s in enumerate(splits)]


def _init_worker() -> None:
    """Each worker uses one thread: the pool itself is the parallelism (2 shared cores)."""
    cv2.setNumThreads(1)


def _render_chunk(args) -> list[tuple[dict, list[dict]]]:
    """Render and write a chunk of items; returns (item row, manifest rows) per item."""
    out_dir, seed, jobs, photos_per_item, size, held, data_version = args
    details_wanted = version_of(data_version).photo_details
    out = Path(out_dir)
    results = []
    for index, split in jobs:
        spec = make_item(seed, index, data_version)
        iid = spec.item_id
        stock_rel = f"stock/{iid}.png"
        render_stock(spec, size).save(out / stock_rel, optimize=False, compress_level=6)
        rows, details = [], []
        for k in range(photos_per_item):
            photo_rel, mask_rel = f"photos/{iid}_{k}.jpg", f"masks/{iid}_{k}.png"
            img, mask, kps, quality, meta = render_photo(spec, photo_seed(seed, index, k), size)
            if details_wanted:  # each photo's background kind and treatment
                details.append({"photo": photo_rel, **meta})
            img.save(out / photo_rel, "JPEG", quality=quality)
            Image.fromarray(((mask > 0.5) * 255).astype(np.uint8), "L").save(out / mask_rel)
            rows.append({"photo": photo_rel, "stock": stock_rel, "item_id": iid, "garment": spec.garment,
                         "split": split, "mask": mask_rel,
                         "keypoints": {n: [round(x, 1), round(y, 1)] for n, (x, y) in kps.items()}})
        item = {**spec.to_json(), "split": split, "stock": stock_rel, "photos": photos_per_item,
                "unseen_combination": combination(spec) in held}
        if details_wanted:
            item["photo_details"] = details
        results.append((item, rows))
    return results


class _PlainProgress:
    """A counter on stderr, where tqdm is not installed."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc = total, desc
        self.n, self.last = 0, 0.0

    def update(self, k: int) -> None:
        self.n += k
        if time.time() - self.last > 2 or self.n >= self.total:
            self.last = time.time()
            print(f"\r{self.desc}: {self.n}/{self.total} pairs", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        print(file=sys.stderr)


def _progress(total: int, desc: str):
    """tqdm when installed, else a plain counter on stderr (the CLI must not depend on it)."""
    if tqdm is not None:
        return tqdm(total=total, desc=desc, unit="pair", file=sys.stderr)
    return _PlainProgress(total, desc)


def generate_dataset(out_dir, items: int, photos_per_item: int, seed: int = 0, workers: int | None = None,
                     image_size: int = 384, split=(0.8, 0.1, 0.1), progress: bool = True,
                     contact_sheet: bool = True, holdout_combinations: float = 0.0, data_version: int = 1) -> Path:
    """Generate ``items`` catalogue items with ``photos_per_item`` street photos each; returns the manifest path.

    Layout under ``out_dir``: ``stock/ITEM.png``, ``photos/ITEM_K.jpg``, ``masks/ITEM_K.png``,
    ``manifest.jsonl`` (docs/CONTRACTS.md, imagegen.offline.data), ``items.jsonl`` (one spec per item, for
    seeding a catalogue and for the evaluation's per-attribute rows) and ``contact_sheet.png``.

    ``holdout_combinations``: the fraction of cut x pattern x colour combinations kept out of train and val (their
    items are all test items, flagged ``unseen_combination`` in items.jsonl).

    ``data_version`` (``versions.py``): 1 (default) is the set the shipped generator was trained on, byte for byte.
    2 adds dresses, jumpsuits (garment ``whole``) and skirts, fabric weave and folds, photographic backgrounds and
    greyscale / colour-cast photos; its items.jsonl rows carry ``data_version: 2`` and ``photo_details`` (per photo:
    ``photo``, ``background``, ``treatment``). ValueError for any other version.
    """
    data_version = version_of(data_version).number
    out = Path(out_dir)
    for sub in ("stock", "photos", "masks"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    splits = assign_splits_with_holdout(items, seed, split, holdout_combinations, data_version)
    held = held_out_combinations(seed, holdout_combinations, data_version)
    workers = max(1, int(workers if workers is not None else (os.cpu_count() or 1)))
    # Small chunks keep the progress bar moving and the two workers evenly loaded.
    chunk = max(1, min(8, items // (workers * 8) or 1))
    jobs = [(i, splits[i]) for i in range(items)]
    tasks = [(str(out), int(seed), jobs[i:i + chunk], int(photos_per_item), int(image_size), held, data_version)
             for i in range(0, items, chunk)]
    bar = _progress(items * photos_per_item, "synth") if progress else None
    results: list[tuple[dict, list[dict]]] = []
    if workers == 1:
        for t in tasks:
            r = _render_chunk(t)
            results.extend(r)
            if bar:
                bar.update(sum(len(rows) for _, rows in r))
    else:
        ctx = mp.get_context("spawn")
        with ctx.Pool(workers, initializer=_init_worker) as pool:
            for r in pool.imap_unordered(_render_chunk, tasks):
                results.extend(r)
                if bar:
                    bar.update(sum(len(rows) for _, rows in r))
    if bar:
        bar.close()
    results.sort(key=lambda ir: ir[0]["item_id"])
    manifest = out / "manifest.jsonl"
    with open(manifest, "w", encoding="utf-8") as f:
        for _, rows in results:
            for row in rows:
                f.write(json.dumps(row, separators=(",", ":")) + "\n")
    with open(out / "items.jsonl", "w", encoding="utf-8") as f:
        for item, _ in results:
            f.write(json.dumps(item, separators=(",", ":")) + "\n")
    if contact_sheet and results:
        make_contact_sheet(manifest, out / "contact_sheet.png")
    return manifest


def make_contact_sheet(manifest, path, n: int = 12, per_row: int = 3, cell: int = 128) -> Path:
    """A grid of stock | photo | mask (with keypoints) triples, one photo per item: for eyeballing."""
    base = Path(manifest).parent
    rows, seen = [], set()
    for line in open(manifest, encoding="utf-8"):
        row = json.loads(line)
        if row["item_id"] in seen:
            continue
        seen.add(row["item_id"])
        rows.append(row)
        if len(rows) >= n:
            break
    n_rows = (len(rows) + per_row - 1) // per_row
    sheet = Image.new("RGB", (per_row * 3 * cell, n_rows * cell), "white")
    for i, row in enumerate(rows):
        photo = Image.open(base / row["photo"]).convert("RGB")
        scale = cell / photo.width
        mask = Image.open(base / row["mask"]).convert("RGB").resize((cell, cell))
        d = ImageDraw.Draw(mask)
        for name, (x, y) in row.get("keypoints", {}).items():
            colour = (230, 40, 40) if name.startswith("left") else (40, 90, 230) if name.startswith("right") else (40, 180, 40)
            d.ellipse([x * scale - 2, y * scale - 2, x * scale + 2, y * scale + 2], fill=colour)
        tiles = [Image.open(base / row["stock"]).convert("RGB").resize((cell, cell), Image.LANCZOS),
                 photo.resize((cell, cell), Image.LANCZOS), mask]
        r, c = divmod(i, per_row)
        for j, tile in enumerate(tiles):
            sheet.paste(tile, ((c * 3 + j) * cell, r * cell))
    sheet.save(path, optimize=True)
    return Path(path)
