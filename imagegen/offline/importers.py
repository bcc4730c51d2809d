"""Build a manifest (``imagegen.offline.data``) from the dataset layouts operators actually download.

Images are NOT copied: the manifest points at them with paths relative to the output folder, so importing 100k photos
takes seconds and no disk. Keep the source folder where it is (or re-import after moving it).

Every importer checks that each referenced file exists and that its header opens as an image (``verify=True``;
header only, so it stays fast), skips and COUNTS what is broken instead of failing the whole import, and returns an
:class:`ImportSummary` (pairs, items, per-split counts, skipped rows by reason), also written as
``import_summary.json`` next to ``manifest.jsonl``.

LookBook (PLDT, Yoo et al., "Pixel-Level Domain Transfer", ECCV 2016)
---------------------------------------------------------------------
One flat folder of JPEGs (the public archive unpacks to ``lookbook/data/``; pass either folder) named::

    PID{product_id:06d}_CLEAN{0|1}_IID{image_id:06d}.jpg      e.g. PID000292_CLEAN1_IID004184.jpg

``CLEAN1`` is the product (stock) image, ``CLEAN0`` the model/street photos of the same product id. Confirmed from
public code that reads the archive: fxia22/PixelDTGAN ``prepare_data.ipynb`` (pairs ``*CLEAN1*`` files with the
``*CLEAN0*`` files sharing their 9-character ``PIDnnnnnn`` prefix; 8,726 products / 68,820 model images) and a
LookBook-to-pix2pix script that documents the name as ``sprintf('PID%06d_CLEAN%d_IID%06d', product_id,
is_product_image, image_id)`` with regex ``PID(\\d{6})_CLEAN(\\d)_IID(\\d{6})``. We accept any number of digits and
``.jpg/.jpeg/.png`` to be lenient. The dataset has no split, so we split by product
(:func:`imagegen.offline.data.split_by_item`), and no garment labels, so ``garment`` is a parameter (default ``top``;
LookBook products are mostly tops, but say so explicitly). A product with several CLEAN1 images keeps the lowest
image id (the others are counted as skipped).

DeepFashion Consumer-to-shop Clothes Retrieval Benchmark
--------------------------------------------------------
Confirmed from the benchmark README as mirrored in open-mmlab/mmfashion ``docs/dataset/CONSUMER_TO_SHOP_DATASET.md``
and from code that parses the files (pandas ``read_csv(..., skiprows=1, delim_whitespace=True)``):

* ``Eval/list_eval_partition.txt``: first row the number of pairs, second row the column names
  ``image_pair_name_1 image_pair_name_2 item_id evaluation_status``, then whitespace-separated rows
  ``<consumer image> <shop image> <item id> <train|val|test>``; image names are paths such as
  ``img/TOPS/T_Shirt/id_00000218/comsumer_01.jpg`` (sic: "comsumer") and ``.../shop_01.jpg``, relative to the
  dataset root (some copies put ``img/`` under ``Img/``: both are tried). Items are not shared between partitions;
  we keep this split as-is.
* ``Anno/list_bbox_consumer2shop.txt`` (optional here): count row, names row, then
  ``<image name> <clothes type> <source type> <x_1> <y_1> <x_2> <y_2>`` with clothes type 1 = upper-body,
  2 = lower-body, 3 = full-body (mapped to ``top``/``bottom``/``whole``) and source type 1 = shop, 2 = consumer.
  Without it every pair gets ``default_garment``.

A consumer photo can be listed with several shop images of its item; the manifest holds one line per street photo,
so the first pair wins (the rest are counted as ``duplicate_photo``).

VITON-HD and Dress Code (paired virtual try-on sets, read for try-off)
----------------------------------------------------------------------
A person photo and the garment it wears, one pair per item, garment type from the set (VITON-HD: tops; Dress Code:
``upper_body`` / ``lower_body`` / ``dresses`` -> top / bottom / whole), OpenPose keypoints carried into the manifest.
See :func:`import_viton_hd` and :func:`import_dresscode` for the layouts. These decode each image (at 1/8 scale), not
only its header: their archives are large and often arrive truncated.

CLI::

    python -m imagegen.offline.importers lookbook SRC --out DIR [--garment top] [--seed 0] [--no-verify]
    python -m imagegen.offline.importers deepfashion-c2s SRC --out DIR [--default-garment top] [--no-verify]
    python -m imagegen.offline.importers viton-hd|dresscode SRC --out DIR [--val-fraction 0.1] [--seed 0] [--no-verify]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from PIL import Image

from imagegen.images import MIN_SIDE
from imagegen.offline.data import GARMENTS, SPLITS, PairRecord, split_by_item, write_manifest

MANIFEST_NAME = "manifest.jsonl"
SUMMARY_NAME = "import_summary.json"

LOOKBOOK_NAME = re.compile(r"^PID(?P<pid>\d+)_CLEAN(?P<clean>[01])_IID(?P<iid>\d+)\.(?:jpe?g|png)$", re.IGNORECASE)
DEEPFASHION_CLOTHES_TYPE = {"1": "top", "2": "bottom", "3": "whole"}


@dataclass
class ImportSummary:
    """What an import produced; ``skipped`` counts rows/files left out, by reason."""

    dataset: str
    source: str
    manifest: str
    pairs: int = 0
    items: int = 0
    per_split: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> {"pairs": n, "items": m}
    garments: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)  # kept, but worth knowing (e.g. garment_defaulted)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """A small readable table for the terminal."""
        lines = [
            f"{self.dataset} import of {self.source}",
            f"manifest: {self.manifest}",
            "",
            f"{'split':<8}{'pairs':>10}{'items':>10}",
        ]
        for split in SPLITS:
            c = self.per_split.get(split, {"pairs": 0, "items": 0})
            lines.append(f"{split:<8}{c['pairs']:>10}{c['items']:>10}")
        lines.append(f"{'total':<8}{self.pairs:>10}{self.items:>10}")
        if self.garments:
            lines.append("")
            lines.append("garments: " + ", ".join(f"{g} {n}" for g, n in sorted(self.garments.items())))
        lines.append("")
        if self.skipped:
            lines.append("skipped:")
            lines.extend(f"  {reason:<28}{n:>8}" for reason, n in sorted(self.skipped.items()))
        else:
            lines.append("skipped: none")
        for note, n in sorted(self.notes.items()):
            lines.append(f"note: {note} {n}")
        return "\n".join(lines)


def _image_ok(path: Path, verify: bool) -> bool:
    """True when the file exists and (with ``verify``) its header opens as an image of a usable size.

    Header only (PIL decodes lazily): catches empty, truncated-at-header and non-image files at ~0.1 ms a file.
    Full decoding is left to ``load_image`` at preprocessing time.
    """
    if not path.is_file():
        return False
    if not verify:
        return True
    try:
        with Image.open(path) as im:
            w, h = im.size
        return min(w, h) >= MIN_SIDE
    except Exception:
        return False


def _finish(
    dataset: str,
    source: Path,
    out_dir: Path,
    records: list[PairRecord],
    skipped: Counter,
    notes: Counter | None = None,
) -> ImportSummary:
    if not records:
        raise ValueError(
            f"no usable pairs found in {source} for {dataset}; skipped: {dict(skipped) or 'nothing'}"
        )
    records.sort(key=lambda r: (SPLITS.index(r.split), r.item_id, str(r.photo)))
    manifest = write_manifest(records, out_dir / MANIFEST_NAME)
    per_split: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        in_split = [r for r in records if r.split == split]
        per_split[split] = {"pairs": len(in_split), "items": len({r.item_id for r in in_split})}
    summary = ImportSummary(
        dataset=dataset,
        source=str(source),
        manifest=str(manifest),
        pairs=len(records),
        items=len({r.item_id for r in records}),
        per_split=per_split,
        garments=dict(sorted(Counter(r.garment for r in records).items())),
        skipped=dict(sorted((k, v) for k, v in skipped.items() if v)),
        notes=dict(sorted((k, v) for k, v in (notes or Counter()).items() if v)),
    )
    (out_dir / SUMMARY_NAME).write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    return summary


# ----------------------------------------------------------------------------------------------------------- LookBook


def import_lookbook(
    src: str | Path,
    out_dir: str | Path,
    garment: str = "top",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    verify: bool = True,
) -> ImportSummary:
    """LookBook folder -> ``out_dir/manifest.jsonl``: each CLEAN0 photo paired with its product's CLEAN1 image."""
    if garment not in GARMENTS:
        raise ValueError(f"garment must be one of {', '.join(GARMENTS)}, got {garment!r}")
    src, out_dir = Path(src).resolve(), Path(out_dir).resolve()
    folder = src / "data" if (src / "data").is_dir() and not any(src.glob("PID*")) else src
    if not folder.is_dir():
        raise ValueError(f"LookBook folder not found: {src}")

    skipped: Counter = Counter()
    products: dict[str, list[tuple[int, Path]]] = defaultdict(list)  # pid -> [(iid, path)] of CLEAN1
    photos: dict[str, list[Path]] = defaultdict(list)  # pid -> CLEAN0 paths
    for path in sorted(folder.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        m = LOOKBOOK_NAME.match(path.name)
        if m is None:
            skipped["unrecognised_file_name"] += 1
            continue
        if not _image_ok(path, verify):
            skipped["unreadable_image"] += 1
            continue
        pid = m["pid"]
        if m["clean"] == "1":
            products[pid].append((int(m["iid"]), path))
        else:
            photos[pid].append(path)

    stock: dict[str, Path] = {}
    for pid, images in products.items():
        images.sort()
        stock[pid] = images[0][1]
        skipped["extra_product_image"] += len(images) - 1
        if not photos.get(pid):
            skipped["product_without_photos"] += 1
    for pid, paths in photos.items():
        if pid not in stock:
            skipped["photo_without_product"] += len(paths)

    usable = sorted(pid for pid in stock if photos.get(pid))
    splits = split_by_item(usable, fractions=fractions, seed=seed)
    records = [
        PairRecord(photo=p, stock=stock[pid], item_id=pid, garment=garment, split=splits[pid])
        for pid in usable
        for p in photos[pid]
    ]
    return _finish("lookbook", src, out_dir, records, skipped)


# ------------------------------------------------------------------------------------------- DeepFashion consumer2shop


def _read_deepfashion_list(path: Path, min_columns: int) -> Iterable[tuple[int, list[str] | None]]:
    """Yield ``(line_no, cells)`` for the data rows of a DeepFashion list file (count row + header row first).

    ``cells`` is ``None`` for a row with too few columns, so the caller can count it.
    """
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if line_no <= 2:  # the row count, then the column names
                continue
            cells = line.split()
            if not cells:
                continue
            yield line_no, (cells if len(cells) >= min_columns else None)


def import_deepfashion_c2s(
    src: str | Path,
    out_dir: str | Path,
    default_garment: str = "top",
    verify: bool = True,
) -> ImportSummary:
    """DeepFashion Consumer-to-shop root -> ``out_dir/manifest.jsonl``, keeping the benchmark's own split."""
    if default_garment not in GARMENTS:
        raise ValueError(f"default_garment must be one of {', '.join(GARMENTS)}, got {default_garment!r}")
    src, out_dir = Path(src).resolve(), Path(out_dir).resolve()
    partition = src / "Eval" / "list_eval_partition.txt"
    if not partition.is_file():
        raise ValueError(f"not a DeepFashion consumer-to-shop folder: {partition} is missing")

    skipped: Counter = Counter()
    notes: Counter = Counter()
    clothes_type: dict[str, str] = {}
    bbox = src / "Anno" / "list_bbox_consumer2shop.txt"
    if bbox.is_file():
        for _, cells in _read_deepfashion_list(bbox, 2):
            if cells is not None and cells[1] in DEEPFASHION_CLOTHES_TYPE:
                clothes_type[cells[0]] = DEEPFASHION_CLOTHES_TYPE[cells[1]]

    def locate(name: str) -> Path | None:
        for root in (src, src / "Img"):
            candidate = root / name
            if candidate.is_file():
                return candidate
        return None

    checked: dict[str, bool] = {}  # a shop image is shared by many rows: verify it once

    def usable(name: str) -> Path | None:
        path = locate(name)
        if path is None:
            return None
        if name not in checked:
            checked[name] = _image_ok(path, verify)
        return path if checked[name] else None

    records: list[PairRecord] = []
    seen_photos: set[str] = set()
    item_split: dict[str, str] = {}
    for _, cells in _read_deepfashion_list(partition, 4):
        if cells is None:
            skipped["malformed_row"] += 1
            continue
        consumer, shop, item_id, status = cells[:4]
        if status not in SPLITS:
            skipped["unknown_split"] += 1
            continue
        if consumer in seen_photos:
            skipped["duplicate_photo"] += 1
            continue
        if item_split.setdefault(item_id, status) != status:
            skipped["item_in_two_splits"] += 1
            continue
        photo_path = usable(consumer)
        if photo_path is None:
            skipped["missing_or_broken_photo"] += 1
            continue
        stock_path = usable(shop)
        if stock_path is None:
            skipped["missing_or_broken_stock"] += 1
            continue
        garment = clothes_type.get(consumer) or clothes_type.get(shop)
        if garment is None:
            garment = default_garment
            notes["garment_defaulted"] += 1
        seen_photos.add(consumer)
        records.append(PairRecord(photo=photo_path, stock=stock_path, item_id=item_id, garment=garment, split=status))
    return _finish("deepfashion-c2s", src, out_dir, records, skipped, notes)


# ------------------------------------------------------------------------------- paired try-on layouts (VITON-HD, Dress Code)

# OpenPose joint index -> the manifest's (mediapipe) keypoint names; "left" is the person's left in both.
OPENPOSE_BODY25 = {0: "nose", 2: "right_shoulder", 3: "right_elbow", 4: "right_wrist", 5: "left_shoulder",
                   6: "left_elbow", 7: "left_wrist", 9: "right_hip", 10: "right_knee", 11: "right_ankle",
                   12: "left_hip", 13: "left_knee", 14: "left_ankle", 15: "right_eye", 16: "left_eye",
                   17: "right_ear", 18: "left_ear"}
OPENPOSE_COCO18 = {0: "nose", 2: "right_shoulder", 3: "right_elbow", 4: "right_wrist", 5: "left_shoulder",
                   6: "left_elbow", 7: "left_wrist", 8: "right_hip", 9: "right_knee", 10: "right_ankle",
                   11: "left_hip", 12: "left_knee", 13: "left_ankle", 14: "right_eye", 15: "left_eye",
                   16: "right_ear", 17: "left_ear"}
DRESSCODE_CATEGORIES = {"upper_body": "top", "lower_body": "bottom", "dresses": "whole"}
DRESSCODE_KEYPOINT_SPACE = (384.0, 512.0)  # Dress Code keypoints are given for a 384 x 512 image (official loader)
DRESSCODE_NAME = re.compile(r"^(?P<id>[^/\\]+)_0\.(?:jpe?g|png)$", re.IGNORECASE)


def _readable(path: Path, verify: bool, skipped: Counter, reason: str) -> tuple[int, int] | None:
    """``_image_size_if_decodes``, counting ``reason`` in ``skipped`` when the file is missing or broken."""
    size = _image_size_if_decodes(path, verify)
    if size is None:
        skipped[reason] += 1
    return size


def _image_size_if_decodes(path: Path, verify: bool) -> tuple[int, int] | None:
    """(width, height) when the file exists and decodes (at 1/8 scale via JPEG draft mode: a truncated file still
    fails, at ~1 ms a 1024 px photo); ``None`` otherwise. Without ``verify`` only existence is checked ((0, 0)).

    Paired try-on sets are downloaded as multi-GB archives that often arrive cut short, so unlike the header-only
    check of the older importers these decode the pixels."""
    if not path.is_file():
        return None
    if not verify:
        return (0, 0)
    try:
        with Image.open(path) as im:
            size = im.size
            if min(size) < MIN_SIDE:
                return None
            im.draft("RGB", (max(size[0] // 8, 1), max(size[1] // 8, 1)))
            im.load()
        return size
    except Exception:
        return None


def _openpose_keypoints(points: Sequence[float], per_point: int,
                        scale: tuple[float, float] = (1.0, 1.0)) -> dict[str, tuple[float, float]] | None:
    """A flat OpenPose list ([x, y, c] or [x, y, score, id] per joint, BODY_25 or COCO-18 order) -> named keypoints.

    Joints OpenPose did not find are written as 0 (or <= 1 in Dress Code); they are left out."""
    n = len(points) // per_point
    names = OPENPOSE_BODY25 if n >= 25 else OPENPOSE_COCO18 if n >= 18 else None
    if names is None or len(points) % per_point:
        return None
    out = {}
    for i, name in names.items():
        x, y = float(points[i * per_point]), float(points[i * per_point + 1])
        if x > 1 and y > 1:
            out[name] = (round(x * scale[0], 1), round(y * scale[1], 1))
    return out or None


def _read_pairs(path: Path) -> Iterable[tuple[int, list[str] | None]]:
    """``(line_no, [person, garment])`` per non-empty line of a try-on pairs file; ``None`` for a malformed line."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            cells = line.split()
            if not cells:
                continue
            yield line_no, (cells[:2] if len(cells) in (2, 3) else None)


def _carve_val(records: list[PairRecord], val_fraction: float, seed: int) -> None:
    """Move a seeded ``val_fraction`` of the train ITEMS to val (these sets only ship train and test)."""
    train_items = sorted({r.item_id for r in records if r.split == "train"})
    if val_fraction <= 0 or len(train_items) < 2:
        return
    chosen = split_by_item(train_items, fractions=(1 - val_fraction, val_fraction, 0.0), seed=seed)
    for r in records:
        if r.split == "train":
            r.split = chosen[r.item_id]


def import_viton_hd(src: str | Path, out_dir: str | Path, val_fraction: float = 0.1, seed: int = 0,
                    verify: bool = True) -> ImportSummary:
    """VITON-HD root -> ``out_dir/manifest.jsonl``: each person photo paired with the garment it is wearing (top).

    Layout (clovaai/VITON-HD, the ``zalando-hd-resized`` archive)::

        train_pairs.txt, test_pairs.txt        "<person image> <garment image>" per line, e.g. "00000_00.jpg 00000_00.jpg"
        train/ and test/ with image/ (person photos), cloth/ (garment on white, same file name as the person photo
        wearing it), cloth-mask/, openpose_json/<stem>_keypoints.json (``people[0].pose_keypoints_2d``, BODY_25), ...

    Try-off needs the garment the person WEARS, which is ``cloth/`` under the person photo's own name. A pairs line
    naming a different garment is an *unpaired* try-on line (VITON-HD's test list is one): the worn garment is used and
    the row counted under ``unpaired_row_used_worn_cloth``. Split: ``train_pairs`` -> train, ``test_pairs`` -> test, and
    a seeded ``val_fraction`` of the train items -> val. Keypoints come from openpose_json when present.
    """
    src, out_dir = Path(src).resolve(), Path(out_dir).resolve()
    pair_files = [(split, src / f"{split}_pairs.txt") for split in ("train", "test")]
    if not any(p.is_file() for _, p in pair_files):
        raise ValueError(f"not a VITON-HD folder: neither train_pairs.txt nor test_pairs.txt in {src}")
    skipped: Counter = Counter()
    notes: Counter = Counter()
    records: list[PairRecord] = []
    seen: set[tuple[str, str]] = set()
    for split, pairs in pair_files:
        if not pairs.is_file():
            continue
        folder = src / split
        for _, cells in _read_pairs(pairs):
            if cells is None:
                skipped["malformed_pairs_line"] += 1
                continue
            person, garment_name = cells
            if (split, person) in seen:
                skipped["duplicate_photo"] += 1
                continue
            if garment_name != person:
                notes["unpaired_row_used_worn_cloth"] += 1
            size = _readable(folder / "image" / person, verify, skipped, "missing_or_broken_photo")
            cloth = folder / "cloth" / person
            if size is None or _readable(cloth, verify, skipped, "missing_or_broken_cloth") is None:
                continue
            if not (folder / "cloth-mask" / person).is_file():
                notes["cloth_mask_missing"] += 1
            seen.add((split, person))
            keypoints = None
            pose = folder / "openpose_json" / f"{Path(person).stem}_keypoints.json"
            if pose.is_file():
                try:
                    people = json.loads(pose.read_text(encoding="utf-8")).get("people") or []
                    keypoints = _openpose_keypoints(people[0]["pose_keypoints_2d"], 3) if people else None
                except (ValueError, KeyError, TypeError, IndexError):
                    notes["keypoints_unreadable"] += 1
            else:
                notes["keypoints_missing"] += 1
            records.append(PairRecord(photo=folder / "image" / person, stock=cloth, item_id=Path(person).stem,
                                      garment="top", split=split, keypoints=keypoints))
    _carve_val(records, val_fraction, seed)
    return _finish("viton-hd", src, out_dir, records, skipped, notes)


def import_dresscode(src: str | Path, out_dir: str | Path, val_fraction: float = 0.1, seed: int = 0,
                     verify: bool = True) -> ImportSummary:
    """Dress Code root -> ``out_dir/manifest.jsonl``: person photos paired with their garment, garment type by category.

    Layout (aimagelab/dress-code, its ``data/dataset.py`` loader)::

        upper_body/ lower_body/ dresses/        -> garment top / bottom / whole
            train_pairs.txt, test_pairs_paired.txt, test_pairs_unpaired.txt   "<id>_0.jpg <id>_1.jpg" per line
            images/<id>_0.jpg  the person        images/<id>_1.jpg  the garment alone
            keypoints/<id>_2.json  {"keypoints": [[x, y, score, joint], ...]} (OpenPose COCO-18, in 384 x 512 pixels)
            cloth_mask/, label_maps/, skeletons/, dense/ ...

    The worn garment of ``<id>_0`` is ``<id>_1``; a pairs line naming another garment is an unpaired try-on line and
    is read as ``<id>_1`` (``unpaired_row_used_worn_cloth``). The unpaired test list is only read when the paired one
    is missing. Item ids are ``<category>/<id>``. Split: train -> train (a seeded ``val_fraction`` of its items -> val),
    test -> test. Keypoints are scaled from 384 x 512 to the photo's own size.
    """
    src, out_dir = Path(src).resolve(), Path(out_dir).resolve()
    categories = [c for c in DRESSCODE_CATEGORIES if (src / c).is_dir()]
    if not categories:
        raise ValueError(f"not a Dress Code folder: none of {', '.join(DRESSCODE_CATEGORIES)} in {src}")
    skipped: Counter = Counter()
    notes: Counter = Counter()
    records: list[PairRecord] = []
    for category in categories:
        folder = src / category
        test_pairs = folder / "test_pairs_paired.txt"
        if not test_pairs.is_file():
            test_pairs = folder / "test_pairs_unpaired.txt"
        pair_files = [("train", folder / "train_pairs.txt"), ("test", test_pairs)]
        if not any(p.is_file() for _, p in pair_files):
            skipped["category_without_pairs_file"] += 1
            continue
        seen: set[str] = set()
        for split, pairs in pair_files:
            if not pairs.is_file():
                continue
            for _, cells in _read_pairs(pairs):
                if cells is None:
                    skipped["malformed_pairs_line"] += 1
                    continue
                person, garment_name = cells
                m = DRESSCODE_NAME.match(person)
                if m is None:
                    skipped["unrecognised_image_name"] += 1
                    continue
                if person in seen:
                    skipped["duplicate_photo"] += 1
                    continue
                worn = f"{m['id']}_1{Path(person).suffix}"
                if garment_name != worn:
                    notes["unpaired_row_used_worn_cloth"] += 1
                size = _readable(folder / "images" / person, verify, skipped, "missing_or_broken_photo")
                if size is None or _readable(folder / "images" / worn, verify, skipped,
                                             "missing_or_broken_cloth") is None:
                    continue
                seen.add(person)
                keypoints = None
                pose = folder / "keypoints" / f"{m['id']}_2.json"
                if pose.is_file():
                    try:
                        flat = [v for joint in json.loads(pose.read_text(encoding="utf-8"))["keypoints"] for v in joint]
                        scale = ((size[0] / DRESSCODE_KEYPOINT_SPACE[0], size[1] / DRESSCODE_KEYPOINT_SPACE[1])
                                 if size != (0, 0) else (1.0, 1.0))
                        keypoints = _openpose_keypoints(flat, 4, scale)
                    except (ValueError, KeyError, TypeError):
                        notes["keypoints_unreadable"] += 1
                else:
                    notes["keypoints_missing"] += 1
                records.append(PairRecord(photo=folder / "images" / person, stock=folder / "images" / worn,
                                          item_id=f"{category}/{m['id']}", garment=DRESSCODE_CATEGORIES[category],
                                          split=split, keypoints=keypoints))
    _carve_val(records, val_fraction, seed)
    return _finish("dresscode", src, out_dir, records, skipped, notes)


# ---------------------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagegen.offline.importers", description="Build a paired-data manifest from a dataset folder."
    )
    sub = parser.add_subparsers(dest="dataset", required=True)
    lb = sub.add_parser("lookbook", help="LookBook (PLDT): flat folder of PID*_CLEAN{0,1}_IID*.jpg")
    lb.add_argument("src", type=Path)
    lb.add_argument("--out", type=Path, required=True, help="output folder for manifest.jsonl")
    lb.add_argument("--garment", choices=GARMENTS, default="top")
    lb.add_argument("--seed", type=int, default=0)
    lb.add_argument("--fractions", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    lb.add_argument("--no-verify", action="store_true", help="skip opening image headers")
    df = sub.add_parser("deepfashion-c2s", help="DeepFashion Consumer-to-shop benchmark root")
    df.add_argument("src", type=Path)
    df.add_argument("--out", type=Path, required=True, help="output folder for manifest.jsonl")
    df.add_argument("--default-garment", choices=GARMENTS, default="top")
    df.add_argument("--no-verify", action="store_true", help="skip opening image headers")
    for name, helptext in (("viton-hd", "VITON-HD root (train/ test/ train_pairs.txt test_pairs.txt)"),
                           ("dresscode", "Dress Code root (upper_body/ lower_body/ dresses/)")):
        paired = sub.add_parser(name, help=helptext)
        paired.add_argument("src", type=Path)
        paired.add_argument("--out", type=Path, required=True, help="output folder for manifest.jsonl")
        paired.add_argument("--val-fraction", type=float, default=0.1, help="share of the train items moved to val")
        paired.add_argument("--seed", type=int, default=0)
        paired.add_argument("--no-verify", action="store_true", help="only check that files exist, do not decode them")
    args = parser.parse_args(argv)
    try:
        if args.dataset == "lookbook":
            summary = import_lookbook(
                args.src, args.out, garment=args.garment, fractions=args.fractions, seed=args.seed,
                verify=not args.no_verify,
            )
        elif args.dataset in ("viton-hd", "dresscode"):
            importer = import_viton_hd if args.dataset == "viton-hd" else import_dresscode
            summary = importer(args.src, args.out, val_fraction=args.val_fraction, seed=args.seed,
                               verify=not args.no_verify)
        else:
            summary = import_deepfashion_c2s(
                args.src, args.out, default_garment=args.default_garment, verify=not args.no_verify
            )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary.table())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
