"""Paired training data: the manifest format, its reader/writer, the split by item and the stock-image helpers.

Why a manifest
--------------
Real datasets (LookBook, DeepFashion, our own synthetic set) all have different folder layouts. Everything downstream
(training, evaluation, model promotion) reads ONE format instead, written by ``imagegen.offline.importers`` or
``imagegen.offline.synth``. The manifest also pins the train/val/test split, so every consumer agrees on which items
are held out.

Manifest format
---------------
JSON Lines (``*.jsonl``, recommended) or CSV (``*.csv``, same column names). One line = one street photo::

    {"photo": "photos/000001_0.jpg", "stock": "stock/000001.png", "item_id": "000001", "garment": "top",
     "split": "train", "mask": "masks/000001_0.png", "keypoints": {"left_shoulder": [41.0, 30.5], ...}}

Fields
  ``photo``     (required) street / model photo of a person wearing the garment.
  ``stock``     (required) the catalogue ("stock") image of the same item: the generator's target and the gallery image
                retrieval is scored against. Several photos of one item normally share one stock image.
  ``item_id``   (required, string) the product. Photos of one item are the positives of one another in retrieval.
  ``garment``   (required) ``"top"``, ``"bottom"`` or ``"whole"``: which garment of the photo is the item; it steers the
                preprocessor's crop.
  ``split``     (required) ``"train"``, ``"val"`` or ``"test"``. Splits are BY ITEM: every photo of an item is in the
                same split (``read_manifest`` rejects a manifest that breaks this), so the test set measures how the
                generator does on products it has never seen, which is what happens in production.
  ``mask``      (optional) ground-truth person mask (greyscale image, white = person) of the photo. Used only by the
                evaluation (mask IoU of the preprocessor).
  ``keypoints`` (optional) ground-truth body keypoints ``{name: [x, y]}`` in PIXELS of the photo (x right, y down),
                names as mediapipe's pose landmarks in lower case (``left_shoulder``, ``right_hip``, ...). Used only by the
                evaluation (pose detection rate, crop hit rate). In CSV the cell holds the same JSON object.

Paths are relative to the folder that holds the manifest (absolute paths are accepted too), with ``/`` separators, so
a dataset folder can be moved or mounted elsewhere as one unit. Blank lines and lines starting with ``#`` are ignored
in JSONL; in CSV an empty ``mask``/``keypoints`` cell means "absent".

Reading a manifest imports neither torch nor mediapipe: the torch Dataset over these records (``PairDataset``) is in
``imagegen.offline.pair_dataset``, the tensor conversions in ``imagegen.tensors``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from PIL import Image

from backbones.images import square_on_white
from imagegen.images import load_image

# Kept in sync with imagegen.preprocess.GARMENTS; duplicated here so that reading a manifest never imports mediapipe.
GARMENTS: tuple[str, ...] = ("top", "bottom", "whole")
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST_FIELDS: tuple[str, ...] = ("photo", "stock", "item_id", "garment", "split", "mask", "keypoints")
REQUIRED_FIELDS: tuple[str, ...] = ("photo", "stock", "item_id", "garment", "split")


@dataclass
class PairRecord:
    """One street photo paired with its item's stock image. Paths are absolute once read from a manifest."""

    photo: Path
    stock: Path
    item_id: str
    garment: str
    split: str
    mask: Path | None = None
    keypoints: dict[str, tuple[float, float]] | None = None

    def to_row(self, base_dir: Path | str) -> dict[str, Any]:
        """The manifest row for this record with paths relative to ``base_dir`` (the manifest's folder)."""
        base = Path(base_dir)
        row: dict[str, Any] = {
            "photo": relative_path(self.photo, base),
            "stock": relative_path(self.stock, base),
            "item_id": self.item_id,
            "garment": self.garment,
            "split": self.split,
        }
        if self.mask is not None:
            row["mask"] = relative_path(self.mask, base)
        if self.keypoints:
            row["keypoints"] = {k: [float(x), float(y)] for k, (x, y) in self.keypoints.items()}
        return row


def relative_path(path: Path | str, base: Path) -> str:
    """``path`` relative to the folder ``base``, with ``/`` separators (a relative path is taken as already so)."""
    path = Path(path)
    if not path.is_absolute():  # already relative to the manifest folder
        return path.as_posix()
    return Path(os.path.relpath(path, base)).as_posix()


# --------------------------------------------------------------------------------------------------- reading / writing


def read_manifest(path: str | os.PathLike, check_files: bool = True) -> list[PairRecord]:
    """Read and validate a JSONL or CSV manifest; return records with absolute paths.

    Every problem raises ``ValueError("<manifest>, line N: <what is wrong>")`` so an operator can fix the row.
    ``check_files`` also checks that photo/stock/mask files exist (cheap, and much better than a crash mid-training).
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest not found: {path}")
    base = path.parent.resolve()
    rows = _read_csv_rows(path) if path.suffix.lower() == ".csv" else _read_jsonl_rows(path)
    records: list[PairRecord] = []
    item_split: dict[str, tuple[str, int]] = {}
    for line_no, row in rows:
        where = f"{path}, line {line_no}"
        record = _record_from_row(row, base, where, check_files)
        first = item_split.setdefault(record.item_id, (record.split, line_no))
        if first[0] != record.split:
            raise ValueError(
                f"{where}: item {record.item_id!r} is in split {record.split!r} here but in {first[0]!r} on line "
                f"{first[1]}; splits must be by item"
            )
        records.append(record)
    return records


def _read_jsonl_rows(path: Path) -> list[tuple[int, dict]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {line_no}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}, line {line_no}: expected a JSON object, got {type(row).__name__}")
            rows.append((line_no, row))
    return rows


def _read_csv_rows(path: Path) -> list[tuple[int, dict]]:
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_FIELDS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"{path}, line 1: CSV header lacks column(s) {', '.join(missing)}")
    rows = []
    for row in reader:
        line_no = reader.line_num  # physical line of the row's end; rows never span lines in our files
        clean: dict[str, Any] = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        if None in row:
            raise ValueError(f"{path}, line {line_no}: more cells than header columns")
        if "keypoints" in clean:
            try:
                clean["keypoints"] = json.loads(clean["keypoints"])
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {line_no}: keypoints cell is not JSON ({e.msg})") from None
        rows.append((line_no, clean))
    return rows


def _record_from_row(row: Mapping[str, Any], base: Path, where: str, check_files: bool) -> PairRecord:
    unknown = sorted(set(row) - set(MANIFEST_FIELDS))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(MANIFEST_FIELDS)})")
    for name in REQUIRED_FIELDS:
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError(f"{where}: missing required field {name!r}")
    for name in ("photo", "stock", "garment", "split"):
        if not isinstance(row[name], str):
            raise ValueError(f"{where}: field {name!r} must be a string, got {type(row[name]).__name__}")
    item_id = row["item_id"]
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)):
        raise ValueError(f"{where}: item_id must be a string, got {type(item_id).__name__}")
    item_id = str(item_id).strip()
    garment, split = row["garment"].strip(), row["split"].strip()
    if garment not in GARMENTS:
        raise ValueError(f"{where}: garment {garment!r} is not one of {', '.join(GARMENTS)}")
    if split not in SPLITS:
        raise ValueError(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")

    def resolve(name: str) -> Path:
        value = row[name]
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{where}: field {name!r} must be a non-empty path string")
        p = Path(value.strip())
        p = Path(os.path.normpath(p if p.is_absolute() else base / p))  # no "out/../src" in error messages
        if check_files and not p.is_file():
            raise ValueError(f"{where}: {name} file not found: {p}")
        return p

    mask = resolve("mask") if row.get("mask") not in (None, "") else None
    return PairRecord(
        photo=resolve("photo"),
        stock=resolve("stock"),
        item_id=item_id,
        garment=garment,
        split=split,
        mask=mask,
        keypoints=_parse_keypoints(row.get("keypoints"), where),
    )


def _parse_keypoints(value: Any, where: str) -> dict[str, tuple[float, float]] | None:
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: keypoints must be an object {{name: [x, y]}}, got {type(value).__name__}")
    out: dict[str, tuple[float, float]] = {}
    for name, xy in value.items():
        ok = isinstance(xy, (list, tuple)) and len(xy) in (2, 3)
        ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in xy)
        if not ok:
            raise ValueError(f"{where}: keypoint {name!r} must be [x, y] numbers in pixels, got {xy!r}")
        out[str(name)] = (float(xy[0]), float(xy[1]))
    return out


def write_manifest(records: Iterable[PairRecord], path: str | os.PathLike) -> Path:
    """Write records as JSONL (or CSV when ``path`` ends in ``.csv``), paths relative to the manifest's folder.

    Written to a temporary file and renamed, so a reader never sees half a manifest.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.parent.resolve()
    rows = [r.to_row(base) for r in records]
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".csv":
            writer = csv.DictWriter(f, fieldnames=list(MANIFEST_FIELDS), lineterminator="\n")
            writer.writeheader()
            for row in rows:
                if "keypoints" in row:
                    row = {**row, "keypoints": json.dumps(row["keypoints"], separators=(",", ":"))}
                writer.writerow(row)
        else:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------------------- splitting


def split_by_item(
    item_ids: Iterable[str], fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0
) -> dict[str, str]:
    """Assign every unique item id to ``"train"``/``"val"``/``"test"``.

    Deterministic: items are ordered by a hash of ``(seed, item_id)`` (not by Python's salted ``hash``, and independent
    of input order), then cut into consecutive blocks whose sizes follow ``fractions`` (largest remainder). Every split
    with a positive fraction gets at least one item when there are enough items, so a tiny dataset still has a test set.
    Because the split is by item, a test item is never in train. The split is written into the manifest, which is what
    fixes it: re-splitting a GROWN dataset may move items, so build a new manifest (and retrain) in that case.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be three non-negative numbers (train, val, test), got {fractions!r}")
    unique = sorted({str(i) for i in item_ids})
    order = sorted(unique, key=lambda i: (hashlib.sha256(f"{seed}:{i}".encode()).hexdigest(), i))
    counts = _block_sizes(len(order), [f / sum(fractions) for f in fractions])
    out: dict[str, str] = {}
    start = 0
    for split, n in zip(SPLITS, counts):
        for item in order[start : start + n]:
            out[item] = split
        start += n
    return out


def _block_sizes(n: int, fractions: Sequence[float]) -> list[int]:
    raw = [n * f for f in fractions]
    counts = [int(math.floor(r)) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    wanted = [i for i, f in enumerate(fractions) if f > 0]
    if n >= len(wanted):  # give each wanted split one item, taken from the largest block
        for i in wanted:
            if counts[i] == 0:
                donor = max(range(len(counts)), key=lambda j: counts[j])
                counts[donor] -= 1
                counts[i] += 1
    return counts


# ------------------------------------------------------------------------------------------------------ image helpers


def load_stock(path: str | os.PathLike, size: int):
    """The stock image as the generator's target: loaded like any input image, squared on white, resized."""
    return square_on_white(load_image(Path(path)), size)


def pil_to_uint8(image, size: int | None = None) -> np.ndarray:
    """RGB PIL -> uint8 [H, W, 3], resized to ``size`` if it is not already that size."""
    image = image.convert("RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8).copy()


def file_digest(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes: the cache key, so a renamed/moved photo still hits and an edited one misses."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
