"""Build a manifest (``imagegen.data``) from the dataset layouts operators actually download.

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
``.jpg/.jpeg/.png`` to be lenient. The dataset has no split, so we split by product (:func:`imagegen.data.split_by_item`),
and no garment labels, so ``garment`` is a parameter (default ``top``; LookBook products are mostly tops, but say so
explicitly). A product with several CLEAN1 images keeps the lowest image id (the others are counted as skipped).

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

CLI::

    python -m imagegen.importers lookbook SRC --out DIR [--garment top] [--seed 0] [--no-verify]
    python -m imagegen.importers deepfashion-c2s SRC --out DIR [--default-garment top] [--no-verify]
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

from imagegen.data import GARMENTS, SPLITS, PairRecord, split_by_item, write_manifest

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
        from PIL import Image

        from imagegen.images import MIN_SIDE

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


# ---------------------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagegen.importers", description="Build a paired-data manifest from a dataset folder."
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
    args = parser.parse_args(argv)
    try:
        if args.dataset == "lookbook":
            summary = import_lookbook(
                args.src, args.out, garment=args.garment, fractions=args.fractions, seed=args.seed,
                verify=not args.no_verify,
            )
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
