"""Paired training data: the manifest format, its reader/writer, and the torch Dataset.

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

Tensors
-------
``PairDataset`` returns the street photo PREPROCESSED exactly as at inference time
(``imagegen.preprocess.get_preprocessor(size)(load_image(photo), garment).image``), so the generator is trained on the
distribution it will see in production; and the stock image padded to a square on white and resized. Both are
``float32 [3, H, W]`` in ``[-1, 1]`` (docs/CONTRACTS.md).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

# Kept in sync with imagegen.preprocess.GARMENTS; duplicated here so that reading a manifest never imports mediapipe.
GARMENTS: tuple[str, ...] = ("top", "bottom", "whole")
SPLITS: tuple[str, ...] = ("train", "val", "test")
MANIFEST_FIELDS: tuple[str, ...] = ("photo", "stock", "item_id", "garment", "split", "mask", "keypoints")
REQUIRED_FIELDS: tuple[str, ...] = ("photo", "stock", "item_id", "garment", "split")

# Bump when the cached arrays' meaning changes (squaring, resizing, preprocessing contract), so stale caches are ignored.
CACHE_VERSION = 1


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
            "photo": _relative(self.photo, base),
            "stock": _relative(self.stock, base),
            "item_id": self.item_id,
            "garment": self.garment,
            "split": self.split,
        }
        if self.mask is not None:
            row["mask"] = _relative(self.mask, base)
        if self.keypoints:
            row["keypoints"] = {k: [float(x), float(y)] for k, (x, y) in self.keypoints.items()}
        return row


def _relative(path: Path | str, base: Path) -> str:
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


def square_on_white(image, size: int):
    """Pad a PIL image to a centred square on white, then resize to ``size`` x ``size``.

    Stock photos come in any aspect ratio; padding (rather than cropping) keeps the whole garment, and white is the
    catalogue background the generator is asked to produce.
    """
    from PIL import Image

    image = image.convert("RGB")
    w, h = image.size
    side = max(w, h)
    if (w, h) != (side, side):
        canvas = Image.new("RGB", (side, side), (255, 255, 255))
        canvas.paste(image, ((side - w) // 2, (side - h) // 2))
        image = canvas
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)
    return image


def load_stock(path: str | os.PathLike, size: int):
    """The stock image as the generator's target: loaded like any input image, squared on white, resized."""
    from imagegen.images import load_image

    return square_on_white(load_image(Path(path)), size)


def pil_to_uint8(image, size: int | None = None) -> np.ndarray:
    """RGB PIL -> uint8 [H, W, 3], resized to ``size`` if it is not already that size."""
    from PIL import Image

    image = image.convert("RGB")
    if size is not None and image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8).copy()


def uint8_to_tensor(array: np.ndarray):
    """uint8 [H, W, 3] -> float32 Tensor [3, H, W] in [-1, 1] (the contract's image tensors)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def tensor_to_uint8(tensor) -> np.ndarray:
    """Tensor [3, H, W] in [-1, 1] -> uint8 [H, W, 3] (clamped, rounded)."""
    t = tensor.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round()
    return t.permute(1, 2, 0).numpy().astype(np.uint8)


def file_digest(path: str | os.PathLike) -> str:
    """SHA-1 of a file's bytes: the cache key, so a renamed/moved photo still hits and an edited one misses."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------------------- dataset

Preprocess = Callable[..., Any]  # (PIL image, garment) -> object with .image (PIL) and .method (str)


def _torch_dataset_base():
    try:
        from torch.utils.data import Dataset

        return Dataset
    except ImportError:  # pragma: no cover - torch is a hard dependency; keeps manifest tools usable without it
        return object


class PairDataset(_torch_dataset_base()):  # type: ignore[misc]
    """Torch Dataset over manifest records: ``dict(photo, stock, item_index, item_id, garment)``.

    ``garment`` is the record's type name ("top", "bottom", "whole"): the crop the photo was preprocessed for, and the
    FiLM class of a garment-conditioned model (``imagegen.networks.GANConfig.garments``). A name, not an index, so
    the embedding-row order stays the model's own business; the default collate turns a batch of them into a list.

    Preprocessing (mediapipe segmentation + pose) costs ~30 ms a photo, far more than a training step needs per image,
    so it is done ONCE by :meth:`prepare` and kept as uint8 arrays (12 KB a 64 px photo). With ``cache_dir`` the arrays
    also go to disk, one ``.npz`` per (photo content hash, image size, garment, preprocessor), so a second run, another
    worker or a retrain on an extended manifest only preprocesses new photos. Items not prepared yet are preprocessed
    lazily on first access.

    ``preprocessor``: ``None`` uses ``imagegen.preprocess.get_preprocessor(image_size)``; any callable
    ``(PIL, garment) -> result with .image and .method`` works (tests use a cheap stub). Its disk-cache identity is its
    ``cache_tag`` attribute if it has one, else its qualified type name.
    """

    def __init__(
        self,
        records: Sequence[PairRecord],
        image_size: int,
        preprocessor: Preprocess | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if not records:
            raise ValueError("PairDataset needs at least one record")
        if int(image_size) < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        self.records: list[PairRecord] = list(records)
        self.image_size = int(image_size)
        self._preprocessor = preprocessor
        self._tag = self._cache_tag(preprocessor)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.item_ids: list[str] = sorted({r.item_id for r in self.records})
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        self._photos: list[np.ndarray | None] = [None] * len(self.records)
        self._methods: list[str | None] = [None] * len(self.records)
        self._stocks: dict[Path, np.ndarray] = {}
        self.cache_hits = 0

    # -- identity ---------------------------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Short hash of the records (paths relative to their common folder, ids, garments, splits) and image size.

        Stored in checkpoints to say which data a model was trained on. Paths are taken relative to the records'
        common folder so moving the whole dataset does not change it; record order does not matter either.
        """
        paths = [str(p) for r in self.records for p in (r.photo, r.stock)]
        try:
            root = Path(os.path.commonpath(paths)) if paths else Path("/")
        except ValueError:  # mixed absolute/relative or different drives
            root = Path("/")
        if root in {Path(p) for p in paths}:  # a single file: use its folder
            root = root.parent
        rows = sorted(
            json.dumps([_relative(r.photo, root), _relative(r.stock, root), r.item_id, r.garment, r.split])
            for r in self.records
        )
        h = hashlib.sha256(f"size={self.image_size}\n".encode())
        for row in rows:
            h.update(row.encode() + b"\n")
        return h.hexdigest()[:16]

    @property
    def preprocess_stats(self) -> dict[str, int]:
        """How many prepared photos each preprocessing method handled (e.g. ``{"keypoints": 90, "centre": 3}``).

        A high ``centre`` count means the preprocessor found no person: worth a look before training on the set.
        """
        return dict(sorted(Counter(m for m in self._methods if m is not None).items()))

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def item_index(self, item_id: str) -> int:
        return self._item_index[item_id]

    # -- preprocessing ----------------------------------------------------------------------------------------------

    def _get_preprocessor(self) -> Preprocess:
        if self._preprocessor is None:
            from imagegen.preprocess import get_preprocessor

            self._preprocessor = get_preprocessor(self.image_size)
        return self._preprocessor

    @staticmethod
    def _cache_tag(prep: Preprocess | None) -> str:
        if prep is None:  # the default: identify it without loading mediapipe
            return "imagegen.preprocess.get_preprocessor"
        tag = getattr(prep, "cache_tag", None)
        return str(tag) if tag else f"{type(prep).__module__}.{type(prep).__qualname__}"

    def _cache_path(self, digest: str, garment: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha1(
            f"v{CACHE_VERSION}|{digest}|{self.image_size}|{garment}|{self._tag}".encode()
        ).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.npz"

    def _load_cached(self, path: Path | None) -> tuple[np.ndarray, str] | None:
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                image, method = z["image"], str(z["method"])
        except Exception:  # a truncated or foreign file: recompute (and overwrite) rather than fail the run
            return None
        if image.shape != (self.image_size, self.image_size, 3) or image.dtype != np.uint8:
            return None
        return image, method

    @staticmethod
    def _save_cached(path: Path, image: np.ndarray, method: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, image=image, method=np.array(method))
        os.replace(tmp, path)  # atomic: concurrent workers never read half a file

    def _prepare_one(self, index: int) -> None:
        record = self.records[index]
        cache_path = None
        if self.cache_dir is not None:
            cache_path = self._cache_path(file_digest(record.photo), record.garment)
            cached = self._load_cached(cache_path)
            if cached is not None:
                self._photos[index], self._methods[index] = cached
                self.cache_hits += 1
                return
        from imagegen.images import load_image

        try:
            result = self._get_preprocessor()(load_image(record.photo), record.garment)
        except Exception as e:
            raise ValueError(f"cannot preprocess photo {record.photo}: {e}") from e
        image = pil_to_uint8(result.image, self.image_size)
        method = str(getattr(result, "method", "unknown"))
        self._photos[index], self._methods[index] = image, method
        if cache_path is not None:
            self._save_cached(cache_path, image, method)

    def _stock_array(self, path: Path) -> np.ndarray:
        array = self._stocks.get(path)
        if array is None:
            array = pil_to_uint8(load_stock(path, self.image_size))
            self._stocks[path] = array
        return array

    def prepare(self, progress: bool = True) -> "PairDataset":
        """Preprocess every photo not prepared yet (and load every stock image). Returns ``self`` for chaining."""
        todo = [i for i, p in enumerate(self._photos) if p is None]
        if todo:
            from tqdm.auto import tqdm

            for i in tqdm(todo, desc="preprocessing photos", unit="photo", disable=not progress):
                self._prepare_one(i)
        for record in self.records:
            self._stock_array(record.stock)
        return self

    @property
    def prepared(self) -> bool:
        return all(p is not None for p in self._photos)

    # -- Dataset protocol -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self.records)
        if not 0 <= index < len(self.records):
            raise IndexError(index)
        if self._photos[index] is None:
            self._prepare_one(index)
        record = self.records[index]
        return {
            "photo": uint8_to_tensor(self._photos[index]),
            "stock": uint8_to_tensor(self._stock_array(record.stock)),
            "item_index": self._item_index[record.item_id],
            "item_id": record.item_id,
            "garment": record.garment,
        }

    def photo_array(self, index: int) -> np.ndarray:
        """The preprocessed photo as uint8 [H, W, 3] (preprocessing it now if needed)."""
        if self._photos[index] is None:
            self._prepare_one(index)
        return self._photos[index]  # type: ignore[return-value]
