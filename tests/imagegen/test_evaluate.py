"""Evaluation on a tiny synthetic set: 6 test items x 2 photos (plus train items that must be ignored)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("imagegen.images", reason="imagegen.images not written yet")

from imagegen.data import PairRecord, write_manifest  # noqa: E402
from imagegen.evaluate import (  # noqa: E402
    evaluate,
    format_markdown,
    main,
    retrieval_metrics,
    retrieval_ranks,
    select_photos,
)

SIZE = 32
W, H = 60, 80  # street photo size
COLOURS = [(200, 30, 40), (30, 140, 70), (40, 70, 190), (240, 200, 60), (110, 60, 150), (20, 130, 130),
           (250, 120, 180), (90, 50, 20)]
# The stub preprocessor "finds" these torso points and this crop box on every photo.
STUB_KEYPOINTS = {"left_shoulder": (40.0, 20.0), "right_shoulder": (20.0, 20.0), "left_hip": (38.0, 50.0),
                  "right_hip": (22.0, 50.0)}
STUB_BOX = (10, 10, 50, 60)


def _save(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def make_eval_set(root: Path) -> list[PairRecord]:
    """6 test items x 2 photos + 2 train items. Photo j=0 has ground truth matching the stub, j=1 far off."""
    records = []
    for i, colour in enumerate(COLOURS):
        split = "test" if i < 6 else "train"
        stock = np.full((50, 40, 3), 255, np.uint8)
        stock[10:40, 8 + i : 32 - i // 2] = colour
        stock_path = _save(root / "stock" / f"{i}.png", stock)
        for j in range(2):
            photo = np.full((H, W, 3), (120 + 20 * j, 110, 100), np.uint8)
            photo[20:50, 20:40] = colour
            mask = np.zeros((H, W), np.uint8)
            if j == 0:
                mask[10:70, 15:45] = 255  # what the stub predicts
                keypoints = STUB_KEYPOINTS
            else:
                mask[10:70, 15:30] = 255  # IoU with the stub's mask = 0.5
                keypoints = {k: (x, y + 0.5 * H) for k, (x, y) in STUB_KEYPOINTS.items()}  # outside box, off by 0.5 H
            records.append(
                PairRecord(
                    photo=_save(root / "photos" / f"{i}_{j}.png", photo),
                    stock=stock_path,
                    item_id=f"sku{i}",
                    garment="top",
                    split=split,
                    mask=_save(root / "masks" / f"{i}_{j}.png", mask),
                    keypoints=dict(keypoints),
                )
            )
    return records


class StubPreprocessor:
    cache_tag = "stub"

    def __init__(self):
        self.calls = 0

    def __call__(self, image, garment="top"):
        self.calls += 1
        mask = np.zeros((image.height, image.width), np.float32)
        mask[10:70, 15:45] = 1.0
        crop = np.asarray(image.crop(STUB_BOX).resize((SIZE, SIZE))).copy()
        crop[crop.max(-1).astype(int) - crop.min(-1) < 30] = 255  # grey background -> white, like the real one
        crop = Image.fromarray(crop)
        return SimpleNamespace(
            image=crop, method="keypoints", warnings=[], mask=mask, crop_box=STUB_BOX,
            keypoints={k: (x, y, 0.99) for k, (x, y) in STUB_KEYPOINTS.items()},
        )


class FakeGenerator:
    """G1 = identity, G2 = blank white: makes every metric predictable without any network."""

    info = {"label": "fake", "trained": False, "image_size": SIZE, "step": 0, "data_fingerprint": None}

    def __init__(self):
        self.batches = []

    def forward_preprocessed(self, photos):
        self.batches.append(photos.shape[0])
        return photos.clone(), torch.ones_like(photos)


def colour_histogram_embed(images):
    """A tiny stand-in embedding: 3x3x3 colour histogram of the non-white pixels (blank images all tie)."""
    out = []
    for im in images:
        a = np.asarray(im.convert("RGB"), dtype=np.int64)
        fg = a[a.min(-1) < 240] * 3 // 256
        hist = np.bincount(fg[:, 0] * 9 + fg[:, 1] * 3 + fg[:, 2], minlength=27).astype(np.float32)
        out.append(np.concatenate([hist / max(1.0, hist.sum()), [0.01]]))
    v = np.array(out, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _check_ranges(m: dict) -> None:
    for name in ("photo", "preprocessed", "g1", "g2"):
        q = m["retrieval"]["queries"][name]
        assert 0.0 <= q["top1"] <= q["top5"] <= q["top20"] <= 1.0
        assert 0.0 < q["mrr"] <= 1.0
        assert 1.0 <= q["median_rank"] <= m["retrieval"]["gallery_items"]
    for name in ("preprocessed", "g1", "g2"):
        q = m["image_quality"][name]
        assert -1.0 <= q["ssim"] <= 1.0 and q["psnr"] > 0 and 0.0 <= q["l2"] <= 1.0
    json.dumps(m, allow_nan=False)  # plain JSON, no NaN/inf


def test_evaluate_with_fake_generator_gives_predictable_numbers(tmp_path):
    records = make_eval_set(tmp_path)
    gen, prep = FakeGenerator(), StubPreprocessor()
    m = evaluate(gen, records, embed=colour_histogram_embed, preprocessor=prep, batch_size=5)

    assert m["split"] == "test" and m["photos"] == 12 and m["items"] == 6 and prep.calls == 12
    assert gen.batches == [5, 5, 2]  # batched generator calls
    _check_ranges(m)
    ret = m["retrieval"]
    assert ret["gallery_items"] == 6  # the train items are not in the gallery
    assert ret["chance"]["top1"] == pytest.approx(1 / 6) and ret["chance"]["top20"] == 1.0
    # Distinct colours: the garment crop retrieves its own item.
    assert ret["queries"]["preprocessed"]["top1"] == 1.0
    # A blank G2 ties with every gallery item: expected accuracy under random tie order = chance, not 100 %.
    g2 = ret["queries"]["g2"]
    assert g2["top1"] == pytest.approx(1 / 6) and g2["top5"] == pytest.approx(5 / 6) and g2["top20"] == 1.0
    assert g2["median_rank"] == pytest.approx(3.5)
    # G1 is the identity, so it scores exactly like the preprocessed photo.
    assert m["image_quality"]["g1"] == m["image_quality"]["preprocessed"]
    assert ret["queries"]["g1"] == ret["queries"]["preprocessed"]
    prep_q = m["preprocessing"]
    assert prep_q["methods"] == {"keypoints": 12}
    assert prep_q["pose_detection"] == {"photos": 12, "detected": 6, "rate": 0.5}
    assert prep_q["crop_hit"] == {"photos": 12, "hits": 6, "rate": 0.5}
    assert prep_q["mask_iou"]["mean"] == pytest.approx(0.75) and prep_q["mask_iou"]["median"] == pytest.approx(0.75)
    assert m["summary"]["g2_top1"] == g2["top1"]


def test_evaluate_with_untrained_generator_writes_reports(tmp_path):
    generator_mod = pytest.importorskip("imagegen.generator", reason="imagegen.generator not written yet")
    pytest.importorskip("search.embedding", reason="search.embedding not written yet")
    records = make_eval_set(tmp_path / "data")
    generator = generator_mod.StockImageGenerator.untrained(image_size=SIZE, seed=0)
    m = evaluate(generator, records, split="test", out_dir=tmp_path / "out", preprocessor=StubPreprocessor())
    _check_ranges(m)
    assert m["model"]["label"] and m["model"]["trained"] is False and m["image_size"] == SIZE
    assert isinstance(m["embedder"], str) and m["embedder"]
    for name in ("metrics.json", "metrics.md", "examples.png"):
        assert (tmp_path / "out" / name).is_file()
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["retrieval"] == m["retrieval"]
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "| G2 output (two-stage) |" in md and "chance level" in md and "SSIM" in md
    with Image.open(tmp_path / "out" / "examples.png") as grid:
        assert grid.width >= 5 * 128 and grid.height >= 6 * 128  # 5 columns, one row per example (6 items)


def test_max_photos_spreads_over_items_and_keeps_full_gallery(tmp_path):
    records = make_eval_set(tmp_path)
    test = [r for r in records if r.split == "test"]
    chosen = select_photos(test, 4)
    assert len({r.item_id for r in chosen}) == 4
    assert select_photos(test, 4) == chosen  # deterministic
    m = evaluate(FakeGenerator(), records, embed=colour_histogram_embed, preprocessor=StubPreprocessor(), max_photos=4)
    assert m["photos"] == 4 and m["photos_in_split"] == 12 and m["retrieval"]["gallery_items"] == 6


def test_no_ground_truth_means_none_not_zero(tmp_path):
    records = make_eval_set(tmp_path)
    for r in records:
        r.mask, r.keypoints = None, None
    m = evaluate(FakeGenerator(), records, embed=colour_histogram_embed, preprocessor=StubPreprocessor(), max_photos=3)
    assert m["preprocessing"]["pose_detection"]["rate"] is None
    assert m["preprocessing"]["mask_iou"]["mean"] is None
    assert m["preprocessing"]["crop_hit"]["rate"] is None
    assert "n/a" in format_markdown(m)
    with pytest.raises(ValueError, match="no records in split 'val'"):
        evaluate(FakeGenerator(), records, split="val", embed=colour_histogram_embed, preprocessor=StubPreprocessor())


def test_retrieval_ranks_and_ties():
    gallery = np.eye(3, dtype=np.float32)
    queries = np.array([[1, 0, 0], [1, 0, 0], [0.6, 0.8, 0], [0, 0, 0]], dtype=np.float32)
    greater, ties = retrieval_ranks(queries, gallery, np.array([0, 1, 1, 2]))
    assert greater.tolist() == [0, 1, 0, 0] and ties.tolist() == [0, 1, 0, 2]
    m = retrieval_metrics(greater, ties, 3)
    # top-1: hit, miss, hit, 1/3 (three-way tie) -> (1 + 0 + 1 + 1/3) / 4
    assert m["top1"] == pytest.approx((2 + 1 / 3) / 4)
    assert m["top5"] == 1.0


def test_cli_with_untrained_generator(tmp_path, capsys):
    pytest.importorskip("imagegen.generator", reason="imagegen.generator not written yet")
    pytest.importorskip("search.embedding", reason="search.embedding not written yet")
    pytest.importorskip("mediapipe")
    records = make_eval_set(tmp_path / "data")
    manifest = write_manifest(records, tmp_path / "data" / "manifest.jsonl")
    code = main(["--untrained", "--image-size", str(SIZE), "--data", str(manifest), "--split", "test",
                 "--out", str(tmp_path / "out"), "--max-photos", "3"])
    assert code == 0
    assert "Retrieval" in capsys.readouterr().out
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["photos"] == 3 and sum(m["preprocessing"]["methods"].values()) == 3
