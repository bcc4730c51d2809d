"""Importers on tiny fixture folders laid out like the real LookBook and DeepFashion consumer-to-shop downloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


from imagegen.offline.data import read_manifest  # noqa: E402
from imagegen.offline.importers import import_deepfashion_c2s, import_lookbook, main  # noqa: E402


def _jpg(path: Path, value: int = 128, size=(40, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path, quality=80)
    return path


def _pairs(records):
    return {(r.photo.name, r.stock.name, r.item_id) for r in records}


# ----------------------------------------------------------------------------------------------------------- LookBook


def make_lookbook(folder: Path) -> None:
    for name in [
        "PID000001_CLEAN1_IID000010.jpg",  # product 1: stock + 2 photos
        "PID000001_CLEAN0_IID000011.jpg",
        "PID000001_CLEAN0_IID000012.jpg",
        "PID000002_CLEAN1_IID000020.jpg",  # product 2: two stock images (lowest IID wins) + 1 photo
        "PID000002_CLEAN1_IID000023.jpg",
        "PID000002_CLEAN0_IID000021.jpg",
        "PID000003_CLEAN0_IID000030.jpg",  # photo without a product image
        "PID000004_CLEAN1_IID000040.jpg",  # product without photos
        "PID000005_CLEAN1_IID000050.JPG",  # product 5: upper-case extension is fine
        "PID000005_CLEAN0_IID000051.jpg",
    ]:
        _jpg(folder / name)
    (folder / "PID000005_CLEAN0_IID000052.jpg").write_bytes(b"not a jpeg")  # broken
    _jpg(folder / "PID000005_CLEAN0_IID000053.jpg", size=(20, 20))  # too small to use
    (folder / "readme.txt").write_text("LookBook")  # not an image name


def test_lookbook_pairs_each_model_photo_with_its_product_image(tmp_path):
    make_lookbook(tmp_path / "lookbook")
    summary = import_lookbook(tmp_path / "lookbook", tmp_path / "out")
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert _pairs(records) == {
        ("PID000001_CLEAN0_IID000011.jpg", "PID000001_CLEAN1_IID000010.jpg", "000001"),
        ("PID000001_CLEAN0_IID000012.jpg", "PID000001_CLEAN1_IID000010.jpg", "000001"),
        ("PID000002_CLEAN0_IID000021.jpg", "PID000002_CLEAN1_IID000020.jpg", "000002"),
        ("PID000005_CLEAN0_IID000051.jpg", "PID000005_CLEAN1_IID000050.JPG", "000005"),
    }
    assert all(r.garment == "top" for r in records)
    assert summary.pairs == 4 and summary.items == 3
    assert summary.skipped == {
        "extra_product_image": 1,
        "photo_without_product": 1,
        "product_without_photos": 1,
        "unreadable_image": 2,
        "unrecognised_file_name": 1,
    }
    # No split in LookBook: split by item, so each item's photos share one split, and all 3 splits are used.
    splits = {}
    for r in records:
        assert splits.setdefault(r.item_id, r.split) == r.split
    assert sorted(splits.values()) == ["test", "train", "val"]
    assert sum(c["pairs"] for c in summary.per_split.values()) == 4
    assert json.loads((tmp_path / "out" / "import_summary.json").read_text())["pairs"] == 4
    # Paths in the manifest are relative to its folder, pointing back into the source.
    line = json.loads((tmp_path / "out" / "manifest.jsonl").read_text().splitlines()[0])
    assert line["photo"].startswith("../lookbook/")


def test_lookbook_accepts_the_archive_root_with_a_data_folder(tmp_path):
    make_lookbook(tmp_path / "lookbook" / "data")
    assert import_lookbook(tmp_path / "lookbook", tmp_path / "out", garment="whole").pairs == 4
    assert {r.garment for r in read_manifest(tmp_path / "out" / "manifest.jsonl")} == {"whole"}


def test_lookbook_cli(tmp_path, capsys):
    make_lookbook(tmp_path / "lb")
    assert main(["lookbook", str(tmp_path / "lb"), "--out", str(tmp_path / "out"), "--seed", "3"]) == 0
    assert "total" in capsys.readouterr().out
    assert len(read_manifest(tmp_path / "out" / "manifest.jsonl")) == 4
    assert main(["lookbook", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")]) == 2


# -------------------------------------------------------------------------------------------------------- DeepFashion

PARTITION_ROWS = [
    # consumer image, shop image, item id, status
    "img/TOPS/T_Shirt/id_00000001/comsumer_01.jpg img/TOPS/T_Shirt/id_00000001/shop_01.jpg id_00000001 train",
    "img/TOPS/T_Shirt/id_00000001/comsumer_01.jpg img/TOPS/T_Shirt/id_00000001/shop_02.jpg id_00000001 train",
    "img/TOPS/T_Shirt/id_00000001/comsumer_02.jpg img/TOPS/T_Shirt/id_00000001/shop_01.jpg id_00000001 train",
    "img/TROUSERS/Pants/id_00000002/comsumer_01.jpg img/TROUSERS/Pants/id_00000002/shop_01.jpg id_00000002 val",
    "img/DRESSES/Dress/id_00000003/comsumer_01.jpg img/DRESSES/Dress/id_00000003/shop_01.jpg id_00000003 test",
    "img/DRESSES/Dress/id_00000003/comsumer_02.jpg img/DRESSES/Dress/id_00000003/shop_01.jpg id_00000003 test",
    "img/DRESSES/Dress/id_00000004/comsumer_01.jpg img/DRESSES/Dress/id_00000004/shop_01.jpg id_00000004 test",
    "img/TOPS/Blouse/id_00000005/comsumer_01.jpg img/TOPS/Blouse/id_00000005/shop_01.jpg id_00000005 gallery",
    "img/TOPS/Blouse/id_00000006/comsumer_01.jpg",
    "",
]
BBOX_ROWS = [
    "img/TOPS/T_Shirt/id_00000001/comsumer_01.jpg 1 2 10 10 30 40",
    "img/TOPS/T_Shirt/id_00000001/comsumer_02.jpg 1 2 10 10 30 40",
    "img/TOPS/T_Shirt/id_00000001/shop_01.jpg 1 1 10 10 30 40",
    "img/TROUSERS/Pants/id_00000002/comsumer_01.jpg 2 2 10 10 30 40",
    "img/DRESSES/Dress/id_00000003/comsumer_01.jpg 3 2 10 10 30 40",
]


def make_deepfashion(root: Path, bbox: bool = True, img_under: str = "") -> None:
    images = [cell for row in PARTITION_ROWS for cell in row.split()[:2] if cell.endswith(".jpg")]
    for name in images:
        if "id_00000004/comsumer_01" in name:
            continue  # listed but missing on disk
        _jpg(root / img_under / name)
    (root / "Eval").mkdir(parents=True)
    (root / "Eval" / "list_eval_partition.txt").write_text(
        f"{len(PARTITION_ROWS)}\nimage_pair_name_1 image_pair_name_2 item_id evaluation_status\n"
        + "\n".join(PARTITION_ROWS) + "\n"
    )
    if bbox:
        (root / "Anno").mkdir(parents=True)
        (root / "Anno" / "list_bbox_consumer2shop.txt").write_text(
            f"{len(BBOX_ROWS)}\nimage_name clothes_type source_type x_1 y_1 x_2 y_2\n" + "\n".join(BBOX_ROWS) + "\n"
        )


def test_deepfashion_keeps_its_split_and_clothes_type(tmp_path):
    make_deepfashion(tmp_path / "c2s")
    summary = import_deepfashion_c2s(tmp_path / "c2s", tmp_path / "out")
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    got = {
        (str(r.photo.relative_to(tmp_path / "c2s")), str(r.stock.relative_to(tmp_path / "c2s")), r.item_id, r.split,
         r.garment)
        for r in records
    }
    assert got == {
        ("img/TOPS/T_Shirt/id_00000001/comsumer_01.jpg", "img/TOPS/T_Shirt/id_00000001/shop_01.jpg",
         "id_00000001", "train", "top"),
        ("img/TOPS/T_Shirt/id_00000001/comsumer_02.jpg", "img/TOPS/T_Shirt/id_00000001/shop_01.jpg",
         "id_00000001", "train", "top"),
        ("img/TROUSERS/Pants/id_00000002/comsumer_01.jpg", "img/TROUSERS/Pants/id_00000002/shop_01.jpg",
         "id_00000002", "val", "bottom"),
        ("img/DRESSES/Dress/id_00000003/comsumer_01.jpg", "img/DRESSES/Dress/id_00000003/shop_01.jpg",
         "id_00000003", "test", "whole"),
        # neither image is in the bbox file: the default garment
        ("img/DRESSES/Dress/id_00000003/comsumer_02.jpg", "img/DRESSES/Dress/id_00000003/shop_01.jpg",
         "id_00000003", "test", "top"),
    }
    assert summary.skipped == {
        "duplicate_photo": 1,
        "malformed_row": 1,
        "missing_or_broken_photo": 1,
        "unknown_split": 1,
    }
    assert summary.notes == {"garment_defaulted": 1}
    assert summary.per_split == {
        "train": {"pairs": 2, "items": 1},
        "val": {"pairs": 1, "items": 1},
        "test": {"pairs": 2, "items": 1},
    }
    assert summary.items == 3


def test_deepfashion_without_bbox_file_and_with_Img_folder(tmp_path, capsys):
    make_deepfashion(tmp_path / "c2s", bbox=False, img_under="Img")
    assert main(["deepfashion-c2s", str(tmp_path / "c2s"), "--out", str(tmp_path / "out"),
                 "--default-garment", "whole"]) == 0
    out = capsys.readouterr().out
    assert "garment_defaulted 5" in out
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert len(records) == 5 and {r.garment for r in records} == {"whole"}


def test_deepfashion_rejects_a_folder_without_the_partition_file(tmp_path):
    with pytest.raises(ValueError, match="list_eval_partition.txt"):
        import_deepfashion_c2s(tmp_path, tmp_path / "out")
