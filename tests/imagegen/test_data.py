"""Manifest format, split-by-item and PairDataset (with a stub preprocessor: no mediapipe needed)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image


from imagegen.offline.data import (  # noqa: E402
    PairRecord,
    read_manifest,
    split_by_item,
    write_manifest,
)
from imagegen.offline.pair_dataset import PairDataset  # noqa: E402

COLOURS = [(200, 30, 40), (30, 140, 70), (40, 70, 190), (240, 200, 60), (110, 60, 150), (20, 130, 130)]


def _png(path: Path, size: tuple[int, int], colour, background=(255, 255, 255)) -> Path:
    """A garment-ish rectangle on a background, saved as PNG."""
    w, h = size
    a = np.full((h, w, 3), background, dtype=np.uint8)
    a[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = colour
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path)
    return path


def make_dataset(root: Path, n_items: int = 4, photos_per_item: int = 2) -> list[PairRecord]:
    records = []
    splits = split_by_item([f"item{i}" for i in range(n_items)])
    for i in range(n_items):
        item = f"item{i}"
        stock = _png(root / "stock" / f"{item}.png", (40, 56), COLOURS[i % len(COLOURS)])
        for j in range(photos_per_item):
            photo = _png(root / "photos" / f"{item}_{j}.png", (48 + 4 * j, 64), COLOURS[i % len(COLOURS)], (90, 90, 90))
            records.append(PairRecord(photo=photo, stock=stock, item_id=item, garment="top", split=splits[item]))
    return records


class StubPreprocessor:
    """Resizes the photo; counts calls so tests can see caching work."""

    cache_tag = "stub-v1"

    def __init__(self, size: int):
        self.size = size
        self.calls = 0

    def __call__(self, image, garment="top"):
        self.calls += 1
        method = "keypoints" if image.width < 50 else "centre"
        return SimpleNamespace(image=image.resize((self.size, self.size)), method=method, warnings=[])


# ------------------------------------------------------------------------------------------------------- manifest


def test_write_then_read_jsonl_round_trip(tmp_path):
    records = make_dataset(tmp_path / "ds")
    records[0].mask = _png(tmp_path / "ds" / "masks" / "m0.png", (48, 64), (255, 255, 255), (0, 0, 0))
    records[0].keypoints = {"left_shoulder": (10.0, 12.5), "right_shoulder": (30, 12)}
    path = write_manifest(records, tmp_path / "ds" / "manifest.jsonl")

    first = json.loads(path.read_text().splitlines()[0])
    assert first["photo"] == "photos/item0_0.png"  # relative to the manifest's folder
    assert first["stock"] == "stock/item0.png"
    assert first["mask"] == "masks/m0.png"
    assert first["keypoints"] == {"left_shoulder": [10.0, 12.5], "right_shoulder": [30.0, 12.0]}

    back = read_manifest(path)
    assert [r.photo for r in back] == [r.photo.resolve() for r in records]
    assert back[0].keypoints == {"left_shoulder": (10.0, 12.5), "right_shoulder": (30.0, 12.0)}
    assert back[0].mask == records[0].mask.resolve()
    assert back[1].mask is None and back[1].keypoints is None
    assert [(r.item_id, r.garment, r.split) for r in back] == [(r.item_id, r.garment, r.split) for r in records]


def test_csv_manifest_reads_like_jsonl(tmp_path):
    records = make_dataset(tmp_path / "ds")
    records[1].keypoints = {"left_hip": (1.0, 2.0)}
    jsonl = read_manifest(write_manifest(records, tmp_path / "ds" / "m.jsonl"))
    csv_ = read_manifest(write_manifest(records, tmp_path / "ds" / "m.csv"))
    assert csv_ == jsonl


def test_manifest_moves_with_its_folder(tmp_path):
    write_manifest(make_dataset(tmp_path / "a"), tmp_path / "a" / "manifest.jsonl")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a")
    records = read_manifest(tmp_path / "b" / "manifest.jsonl")
    assert all(r.photo.is_file() and str(r.photo).startswith(str(tmp_path / "b")) for r in records)


GOOD = {"photo": "p.png", "stock": "s.png", "item_id": "1", "garment": "top", "split": "train"}


@pytest.mark.parametrize(
    "bad_line, message",
    [
        ({**GOOD, "garment": "hat"}, "garment 'hat'"),
        ({**GOOD, "split": "dev"}, "split 'dev'"),
        ({k: v for k, v in GOOD.items() if k != "stock"}, "missing required field 'stock'"),
        ({**GOOD, "photo": "nope.png"}, "photo file not found"),
        ({**GOOD, "keypoints": {"left_hip": [1]}}, "keypoint 'left_hip'"),
        ({**GOOD, "colour": "red"}, "unknown field"),
        ({**GOOD, "item_id": "0", "split": "test"}, "splits must be by item"),
        ("{not json", "not valid JSON"),
    ],
)
def test_read_manifest_rejects_bad_row_naming_the_line(tmp_path, bad_line, message):
    _png(tmp_path / "p.png", (40, 40), (1, 2, 3))
    _png(tmp_path / "s.png", (40, 40), (1, 2, 3))
    lines = [json.dumps({**GOOD, "item_id": "0"}), "", json.dumps({**GOOD, "item_id": "0"}), "# a comment"]
    lines.append(bad_line if isinstance(bad_line, str) else json.dumps(bad_line))  # physical line 5
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        read_manifest(tmp_path / "m.jsonl")
    assert "line 5" in str(err.value) and message in str(err.value)


def test_read_csv_rejects_bad_row_naming_the_line(tmp_path):
    _png(tmp_path / "p.png", (40, 40), (1, 2, 3))
    _png(tmp_path / "s.png", (40, 40), (1, 2, 3))
    (tmp_path / "m.csv").write_text(
        "photo,stock,item_id,garment,split\np.png,s.png,1,top,train\np.png,s.png,2,skirt,train\n"
    )
    with pytest.raises(ValueError, match=r"line 3: garment 'skirt'"):
        read_manifest(tmp_path / "m.csv")


# ---------------------------------------------------------------------------------------------------------- splits


def test_split_by_item_is_deterministic_and_never_shares_items():
    ids = [f"sku{i}" for i in range(1000)]
    a = split_by_item(ids)
    assert a == split_by_item(list(reversed(ids)) + ids[:10])  # order and duplicates do not matter
    assert set(a) == set(ids)
    counts = Counter(a.values())
    assert counts == {"train": 800, "val": 100, "test": 100}
    assert split_by_item(ids, seed=1) != a


def test_split_by_item_small_sets_still_get_every_split():
    for n in (3, 4, 6, 10):
        assert set(split_by_item([str(i) for i in range(n)]).values()) == {"train", "val", "test"}
    assert set(split_by_item(["a", "b"], fractions=(0.5, 0, 0.5)).values()) == {"train", "test"}
    with pytest.raises(ValueError):
        split_by_item(["a"], fractions=(1, 0))


def test_records_of_one_item_stay_in_one_split(tmp_path):
    records = make_dataset(tmp_path, n_items=6, photos_per_item=3)
    by_split: dict[str, set] = {}
    for r in records:
        by_split.setdefault(r.split, set()).add(r.item_id)
    assert by_split["train"].isdisjoint(by_split["test"])
    assert by_split["train"].isdisjoint(by_split["val"]) and by_split["val"].isdisjoint(by_split["test"])


# --------------------------------------------------------------------------------------------------------- dataset


def test_pair_dataset_items(tmp_path):
    records = make_dataset(tmp_path, n_items=3)
    prep = StubPreprocessor(32)
    ds = PairDataset(records, 32, preprocessor=prep).prepare(progress=False)
    assert len(ds) == 6 and prep.calls == 6
    sample = ds[3]
    assert sample["photo"].shape == (3, 32, 32) and sample["stock"].shape == (3, 32, 32)
    assert sample["photo"].dtype.is_floating_point
    for key in ("photo", "stock"):
        assert -1.0 <= float(sample[key].min()) and float(sample[key].max()) <= 1.0
    assert sample["item_id"] == "item1" and sample["item_index"] == 1
    assert ds.item_ids == ["item0", "item1", "item2"]
    # The 40x56 stock is padded to a square on WHITE: the left/right margins are white.
    assert float(sample["stock"][:, 16, 0].min()) > 0.95
    assert ds.preprocess_stats == {"centre": 3, "keypoints": 3}
    ds[0]
    assert prep.calls == 6  # prepared once, never again


def test_pair_dataset_disk_cache_makes_second_run_free(tmp_path):
    records = make_dataset(tmp_path / "ds", n_items=2)
    first = PairDataset(records, 32, preprocessor=StubPreprocessor(32), cache_dir=tmp_path / "cache")
    first.prepare(progress=False)
    prep = StubPreprocessor(32)
    second = PairDataset(records, 32, preprocessor=prep, cache_dir=tmp_path / "cache").prepare(progress=False)
    assert prep.calls == 0 and second.cache_hits == 4
    assert np.array_equal(second.photo_array(1), first.photo_array(1))
    assert second.preprocess_stats == first.preprocess_stats
    # Another size or garment is another key.
    prep64 = StubPreprocessor(64)
    PairDataset(records, 64, preprocessor=prep64, cache_dir=tmp_path / "cache").prepare(progress=False)
    assert prep64.calls == 4
    # An edited photo misses; a corrupt cache file is recomputed, not fatal.
    _png(records[0].photo, (48, 64), (0, 0, 0))
    for f in list((tmp_path / "cache").rglob("*.npz"))[:1]:
        f.write_bytes(b"garbage")
    prep = StubPreprocessor(32)
    PairDataset(records, 32, preprocessor=prep, cache_dir=tmp_path / "cache").prepare(progress=False)
    assert 1 <= prep.calls <= 2


def test_pair_dataset_lazy_without_prepare(tmp_path):
    records = make_dataset(tmp_path, n_items=2)
    prep = StubPreprocessor(16)
    ds = PairDataset(records, 16, preprocessor=prep)
    assert ds[-1]["photo"].shape == (3, 16, 16) and prep.calls == 1 and not ds.prepared
    with pytest.raises(IndexError):
        ds[4]


def test_fingerprint_tracks_records_and_size_not_location(tmp_path):
    records = make_dataset(tmp_path / "a", n_items=3)
    write_manifest(records, tmp_path / "a" / "manifest.jsonl")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = read_manifest(tmp_path / "b" / "manifest.jsonl")
    fp = PairDataset(records, 32).fingerprint
    assert len(fp) == 16
    assert PairDataset(list(reversed(moved)), 32).fingerprint == fp
    assert PairDataset(records, 64).fingerprint != fp
    assert PairDataset(records[:-1], 32).fingerprint != fp


def test_pair_dataset_with_the_real_preprocessor(tmp_path):
    import imagegen.preprocess  # noqa: F401  (hard dependencies: a broken install must fail, not skip)
    records = make_dataset(tmp_path, n_items=1, photos_per_item=1)
    ds = PairDataset(records, 32, cache_dir=tmp_path / "cache").prepare(progress=False)
    assert ds[0]["photo"].shape == (3, 32, 32)
    assert sum(ds.preprocess_stats.values()) == 1
