"""The paired try-on layouts (VITON-HD, Dress Code) read for try-off, on tiny fixture folders built here."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen.offline.data import read_manifest
from imagegen.offline.importers import import_dresscode, import_viton_hd, main


def _jpg(path: Path, size=(48, 64), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def _truncated_jpg(path: Path) -> Path:
    """A JPEG cut in half: its header opens, its pixels do not decode (a download that stopped early)."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 48, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return path


def _by_photo(records) -> dict:
    return {r.photo.name: r for r in records}


# ----------------------------------------------------------------------------------------------------------- VITON-HD


def make_viton_hd(root: Path) -> None:
    for split, names in (("train", ["00000_00", "00001_00", "00004_00", "00005_00", "00006_00"]),
                         ("test", ["00010_00", "00011_00"])):
        for name in names:
            _jpg(root / split / "image" / f"{name}.jpg")
            if name != "00004_00":
                _jpg(root / split / "cloth" / f"{name}.jpg", seed=2)
            if name != "00001_00":
                _jpg(root / split / "cloth-mask" / f"{name}.jpg", seed=3)
    _truncated_jpg(root / "train" / "cloth" / "00004_00.jpg")
    body25 = [0.0] * 75
    for index, (x, y) in {0: (24, 8), 2: (16, 18), 5: (32, 18), 9: (18, 40), 12: (30, 40), 15: (21, 6)}.items():
        body25[index * 3: index * 3 + 3] = [x, y, 0.9]
    (root / "train" / "openpose_json").mkdir(parents=True)
    (root / "train" / "openpose_json" / "00000_00_keypoints.json").write_text(
        json.dumps({"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": body25}]}))
    (root / "train" / "openpose_json" / "00005_00_keypoints.json").write_text("{not json")
    (root / "train_pairs.txt").write_text("\n".join([
        "00000_00.jpg 00000_00.jpg",
        "00001_00.jpg 00001_00.jpg",   # no keypoints file, no cloth mask: kept, noted
        "00002_00.jpg 00002_00.jpg",   # listed, not on disk
        "00003_00.jpg",                # a bad pairs line
        "00004_00.jpg 00004_00.jpg",   # truncated garment image
        "00000_00.jpg 00000_00.jpg",   # listed twice
        "00005_00.jpg 00005_00.jpg",   # unreadable keypoints: kept, noted
        "00006_00.jpg 00006_00.jpg",
        "",
    ]) + "\n")
    # VITON-HD's test list is unpaired (try-on): the photo still wears its own garment.
    (root / "test_pairs.txt").write_text("00010_00.jpg 00011_00.jpg\n00011_00.jpg 00010_00.jpg\n")


def test_viton_hd_pairs_each_photo_with_the_garment_it_wears(tmp_path):
    make_viton_hd(tmp_path / "viton")
    summary = import_viton_hd(tmp_path / "viton", tmp_path / "out", val_fraction=0.34, seed=0)
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    got = _by_photo(records)
    assert set(got) == {"00000_00.jpg", "00001_00.jpg", "00005_00.jpg", "00006_00.jpg", "00010_00.jpg", "00011_00.jpg"}
    for name, r in got.items():
        assert r.stock.name == name and r.stock.parent.name == "cloth" and r.garment == "top"
    assert got["00010_00.jpg"].split == "test" and got["00011_00.jpg"].split == "test"
    assert sorted(r.split for r in records if r.photo.parent.parent.name == "train") == ["train", "train", "train", "val"]
    assert summary.skipped == {"duplicate_photo": 1, "malformed_pairs_line": 1, "missing_or_broken_cloth": 1,
                               "missing_or_broken_photo": 1}
    assert summary.notes == {"cloth_mask_missing": 1, "keypoints_missing": 4, "keypoints_unreadable": 1,
                             "unpaired_row_used_worn_cloth": 2}
    kp = got["00000_00.jpg"].keypoints
    assert kp["left_shoulder"] == (32.0, 18.0) and kp["right_hip"] == (18.0, 40.0) and kp["right_eye"] == (21.0, 6.0)
    assert "left_knee" not in kp  # a joint OpenPose did not find (0, 0) is left out
    assert got["00001_00.jpg"].keypoints is None
    assert json.loads((tmp_path / "out" / "import_summary.json").read_text())["pairs"] == 6


def test_viton_hd_cli_and_a_folder_that_is_not_one(tmp_path, capsys):
    make_viton_hd(tmp_path / "viton")
    assert main(["viton-hd", str(tmp_path / "viton"), "--out", str(tmp_path / "out"), "--val-fraction", "0"]) == 0
    out = capsys.readouterr().out
    assert "missing_or_broken_cloth" in out and "total" in out
    assert {r.split for r in read_manifest(tmp_path / "out" / "manifest.jsonl")} == {"train", "test"}
    assert main(["viton-hd", str(tmp_path / "empty"), "--out", str(tmp_path / "o2")]) == 2
    assert "not a VITON-HD folder" in capsys.readouterr().err


def test_viton_hd_without_verify_only_checks_existence(tmp_path):
    make_viton_hd(tmp_path / "viton")
    summary = import_viton_hd(tmp_path / "viton", tmp_path / "out", verify=False)
    assert "missing_or_broken_cloth" not in summary.skipped  # the truncated garment passes without decoding
    assert summary.pairs == 7


# --------------------------------------------------------------------------------------------------------- Dress Code


def make_dresscode(root: Path) -> None:
    upper, lower, dresses = root / "upper_body", root / "lower_body", root / "dresses"
    for folder, ids in ((upper, ["000001", "000003"]), (lower, ["013001", "013002"]), (dresses, ["020002"])):
        for i in ids:
            _jpg(folder / "images" / f"{i}_0.jpg", size=(96, 128))
            _jpg(folder / "images" / f"{i}_1.jpg", size=(96, 128), seed=5)
    _jpg(upper / "images" / "000002_0.jpg", size=(96, 128))  # its garment image is missing
    (dresses / "images").mkdir(parents=True, exist_ok=True)
    (dresses / "images" / "020001_0.jpg").write_bytes(b"not a jpeg")
    _jpg(dresses / "images" / "020001_1.jpg")
    coco18 = [[0.0, 0.0, 0.0, i] for i in range(18)]
    coco18[5] = [200.0, 120.0, 0.8, 5]   # left shoulder at 384 x 512 -> x 50, y 30 in a 96 x 128 photo
    coco18[8] = [160.0, 260.0, 0.8, 8]   # right hip
    (upper / "keypoints").mkdir(parents=True)
    (upper / "keypoints" / "000001_2.json").write_text(json.dumps({"keypoints": coco18}))
    (upper / "train_pairs.txt").write_text(
        "000001_0.jpg 000001_1.jpg\n000002_0.jpg 000002_1.jpg\nthis line has four cells\nnotaname.jpg x_1.jpg\n")
    (upper / "test_pairs_paired.txt").write_text("000003_0.jpg 000003_1.jpg\n")
    (upper / "test_pairs_unpaired.txt").write_text("000003_0.jpg 000001_1.jpg\n")  # ignored: the paired list exists
    (lower / "train_pairs.txt").write_text("013001_0.jpg 013001_1.jpg\n")
    (lower / "test_pairs_unpaired.txt").write_text("013002_0.jpg 013001_1.jpg\n")  # only the unpaired list
    (dresses / "train_pairs.txt").write_text("020001_0.jpg 020001_1.jpg\n020002_0.jpg 020002_1.jpg\n")


def test_dresscode_garment_type_comes_from_the_category_folder(tmp_path):
    make_dresscode(tmp_path / "DressCode")
    summary = import_dresscode(tmp_path / "DressCode", tmp_path / "out", val_fraction=0.0)
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    got = {r.item_id: (r.photo.name, r.stock.name, r.garment, r.split) for r in records}
    assert got == {
        "upper_body/000001": ("000001_0.jpg", "000001_1.jpg", "top", "train"),
        "upper_body/000003": ("000003_0.jpg", "000003_1.jpg", "top", "test"),
        "lower_body/013001": ("013001_0.jpg", "013001_1.jpg", "bottom", "train"),
        "lower_body/013002": ("013002_0.jpg", "013002_1.jpg", "bottom", "test"),
        "dresses/020002": ("020002_0.jpg", "020002_1.jpg", "whole", "train"),
    }
    assert summary.garments == {"bottom": 2, "top": 2, "whole": 1}
    assert summary.skipped == {"malformed_pairs_line": 1, "missing_or_broken_cloth": 1, "missing_or_broken_photo": 1,
                               "unrecognised_image_name": 1}
    assert summary.notes == {"keypoints_missing": 4, "unpaired_row_used_worn_cloth": 1}
    kp = next(r for r in records if r.item_id == "upper_body/000001").keypoints
    assert kp == {"left_shoulder": (50.0, 30.0), "right_hip": (40.0, 65.0)}


def test_dresscode_cli_carves_val_from_train_by_item(tmp_path, capsys):
    make_dresscode(tmp_path / "dc")
    assert main(["dresscode", str(tmp_path / "dc"), "--out", str(tmp_path / "out"), "--val-fraction", "0.34"]) == 0
    assert "garments: bottom 2, top 2, whole 1" in capsys.readouterr().out
    records = read_manifest(tmp_path / "out" / "manifest.jsonl")
    assert sorted(r.split for r in records) == ["test", "test", "train", "train", "val"]
    with pytest.raises(ValueError, match="not a Dress Code folder"):
        import_dresscode(tmp_path / "nothing", tmp_path / "o2")
