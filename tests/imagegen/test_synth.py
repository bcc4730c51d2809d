"""The procedural street-to-shop generator: deterministic, split by item, files as the manifest says."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen.offline.synth import generate_dataset, make_item, render_stock, render_street_photo
from imagegen.offline.synth.dataset import assign_splits

SIZE = 128  # small photos keep the module well under 30 s; the drawing is size-independent
FIELDS = {"photo", "stock", "item_id", "garment", "split", "mask", "keypoints"}
BODY = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
        "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def _png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """The same dataset made in-process and by a 2-process pool."""
    one = generate_dataset(tmp_path_factory.mktemp("w1"), items=10, photos_per_item=2, seed=7, workers=1,
                           image_size=SIZE, progress=False)
    two = generate_dataset(tmp_path_factory.mktemp("w2"), items=10, photos_per_item=2, seed=7, workers=2,
                           image_size=SIZE, progress=False)
    return one, two


def _rows(manifest: Path) -> list[dict]:
    return [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]


def test_same_seed_gives_identical_stock_and_photo():
    a, b = make_item(3, 5), make_item(3, 5)
    assert a == b
    assert _png_bytes(render_stock(a, 96)) == _png_bytes(render_stock(b, 96))
    img1, mask1, kp1 = render_street_photo(a, 11, SIZE)
    img2, mask2, kp2 = render_street_photo(b, 11, SIZE)
    assert np.array_equal(np.asarray(img1), np.asarray(img2))
    assert np.array_equal(mask1, mask2) and kp1 == kp2


def test_different_seed_gives_different_item_and_photo():
    assert {make_item(3, i).title for i in range(20)} != {make_item(4, i).title for i in range(20)}
    spec = make_item(3, 5)
    img1, _, _ = render_street_photo(spec, 11, SIZE)
    img2, _, _ = render_street_photo(spec, 12, SIZE)
    assert not np.array_equal(np.asarray(img1), np.asarray(img2))


def test_items_vary_in_colour_pattern_and_cut():
    specs = [make_item(0, i) for i in range(200)]
    assert len({s.colour for s in specs}) >= 15
    assert len({s.pattern for s in specs}) == 6
    assert len({s.cut for s in specs}) == 6
    assert len({s.title for s in specs}) >= 150


def test_worker_count_does_not_change_output(datasets):
    one, two = datasets
    assert one.read_text() == two.read_text()
    for row in _rows(one):
        for key in ("photo", "stock", "mask"):
            assert (one.parent / row[key]).read_bytes() == (two.parent / row[key]).read_bytes(), row[key]


def test_splits_never_share_an_item(datasets):
    rows = _rows(datasets[0])
    split_of: dict[str, set] = {}
    for row in rows:
        split_of.setdefault(row["item_id"], set()).add(row["split"])
    assert all(len(s) == 1 for s in split_of.values())
    assert {next(iter(s)) for s in split_of.values()} == {"train", "val", "test"}
    splits = assign_splits(1000, 1)
    assert splits.count("train") == 800 and splits.count("val") == 100 and splits.count("test") == 100


def test_manifest_has_documented_fields_and_existing_files(datasets):
    manifest = datasets[0]
    rows = _rows(manifest)
    assert len(rows) == 20
    for row in rows:
        assert set(row) == FIELDS
        assert row["garment"] in ("top", "bottom")
        for key in ("photo", "stock", "mask"):
            assert not Path(row[key]).is_absolute() and (manifest.parent / row[key]).is_file()
        assert set(BODY) <= set(row["keypoints"])
    items = [json.loads(line) for line in (manifest.parent / "items.jsonl").read_text().splitlines()]
    assert len(items) == 10 and all(i["title"] and i["category"] in ("top", "bottom") for i in items)
    assert (manifest.parent / "contact_sheet.png").is_file()


def test_manifest_reads_with_imagegen_data(datasets):
    import imagegen.offline.data as data
    records = data.read_manifest(datasets[0])
    assert len(records) == 20 and records[0].keypoints


def test_stock_images_have_white_borders(datasets):
    manifest = datasets[0]
    for row in _rows(manifest)[::2]:
        a = np.asarray(Image.open(manifest.parent / row["stock"]).convert("RGB"))
        border = np.concatenate([a[:3].reshape(-1, 3), a[-3:].reshape(-1, 3), a[:, :3].reshape(-1, 3), a[:, -3:].reshape(-1, 3)])
        assert border.min() >= 245
        assert ((255 - a.astype(int)).max(axis=2) > 10).mean() > 0.15  # and a garment in the middle


def test_masks_are_non_empty_and_contain_the_keypoints(datasets):
    manifest = datasets[0]
    for row in _rows(manifest):
        m = np.asarray(Image.open(manifest.parent / row["mask"]).convert("L")) > 127
        assert 0.03 < m.mean() < 0.6
        ys, xs = np.nonzero(m)
        for name, (x, y) in row["keypoints"].items():
            assert xs.min() - 2 <= x <= xs.max() + 2 and ys.min() - 2 <= y <= ys.max() + 2, name


def test_left_keypoints_are_on_the_image_right_for_a_frontal_person(datasets):
    for row in _rows(datasets[0]):
        k = row["keypoints"]
        assert k["left_shoulder"][0] > k["right_shoulder"][0]
        assert k["left_hip"][0] > k["right_hip"][0]


def test_photo_file_equals_the_api_photo(datasets):
    """render_street_photo includes the real JPEG round trip, so it matches photos/*.jpg exactly."""
    from imagegen.offline.synth.dataset import photo_seed

    manifest = datasets[0]
    row = _rows(manifest)[0]
    index = int(row["item_id"])
    img, _, _ = render_street_photo(make_item(7, index), photo_seed(7, index, 0), SIZE)
    on_disk = np.asarray(Image.open(manifest.parent / row["photo"]).convert("RGB"))
    assert np.array_equal(np.asarray(img), on_disk)


def test_held_out_combinations_never_reach_train_or_val():
    from imagegen.offline.synth.dataset import assign_splits_with_holdout, combination, held_out_combinations

    n, seed = 600, 5
    held = held_out_combinations(seed, 0.15)
    splits = assign_splits_with_holdout(n, seed, holdout_fraction=0.15)
    specs = [make_item(seed, i) for i in range(n)]
    held_items = [i for i, spec in enumerate(specs) if combination(spec) in held]
    assert held_items, "some items must fall in a held-out combination"
    assert all(splits[i] == "test" for i in held_items)
    assert not held & {combination(s) for s, sp in zip(specs, splits) if sp != "test"}
    assert assign_splits_with_holdout(n, seed) == assign_splits(n, seed)  # no holdout: the old splits exactly
