"""The generator's evaluation (``offline.evaluate_generator``: its image half ``imagegen.offline.evaluate``, its
retrieval half ``offline.retrieval``) on a tiny synthetic set: 6 test items x 2 photos (plus train items that must be
ignored)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import imagegen.generator as generator_mod
import offline.evaluate_generator as ev
from imagegen.offline.data import PairRecord, write_manifest
from imagegen.offline.evaluate import select_photos
from offline.evaluate_generator import evaluate, main
from offline.evaluation_report import format_markdown
from offline.retrieval import (Gallery, plan_galleries, retrieval_metrics, retrieval_ranks, retrieval_report, spec_key,
                               unseen_items)
from search.embedders import ConfidenceGate

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
    for name in ("preprocessed", "g1", "g2", "blank"):
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
    ret = m["retrieval"]  # the headline: the full gallery = the 6 test items + the 2 train items as distractors
    assert ret["gallery_items"] == 8
    assert ret["chance"]["top1"] == pytest.approx(1 / 8) and ret["chance"]["top20"] == 1.0
    # Distinct colours: the garment crop retrieves its own item, distractors or not.
    assert ret["queries"]["preprocessed"]["top1"] == 1.0
    # A blank G2 ties with every gallery item: expected accuracy under random tie order = chance, not 100 %.
    g2 = ret["queries"]["g2"]
    assert g2["top1"] == pytest.approx(1 / 8) and g2["top5"] == pytest.approx(5 / 8) and g2["top20"] == 1.0
    assert g2["median_rank"] == pytest.approx(4.5)
    assert ret["queries"]["blank"]["top1"] == pytest.approx(1 / 8)
    # Only the 6 targets: the v1 numbers.
    only_targets = evaluate(FakeGenerator(), records, embed=colour_histogram_embed, preprocessor=StubPreprocessor(),
                            gallery_sizes=(6,))
    six = only_targets["curves"]["colour_histogram_embed"]["all"]["6"]
    assert six["gallery_items"] == 6 and six["queries"]["g2"]["top1"] == pytest.approx(1 / 6)
    assert six["queries"]["g2"]["median_rank"] == pytest.approx(3.5)
    # No items.jsonl: attribute rows, unseen split and ceiling are absent, not a crash.
    assert m["by_attribute"] is None and m["unseen_combinations"] is None and ret["ceiling"] is None
    assert m["curves"]["colour_histogram_embed"]["seen"] is None
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
    records = make_eval_set(tmp_path / "data")
    generator = generator_mod.StockImageGenerator.untrained(image_size=SIZE, seed=0)
    m = evaluate(generator, records, split="test", out_dir=tmp_path / "out", preprocessor=StubPreprocessor())
    _check_ranges(m)
    assert m["model"]["label"] and m["model"]["trained"] is False and m["image_size"] == SIZE
    assert isinstance(m["embedder"], str) and m["embedder"]
    for name in ("metrics.json", "metrics.md", "examples.png", "gallery_curve.png"):
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
    assert m["photos"] == 4 and m["photos_in_split"] == 12 and m["retrieval"]["gallery_items"] == 8
    assert m["gallery"]["target_items"] == 6 and m["retrieval"]["queries"]["g2"]["n"] == 4


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
    import mediapipe  # noqa: F401  (a hard dependency: a broken install must fail, not skip)
    records = make_eval_set(tmp_path / "data")
    manifest = write_manifest(records, tmp_path / "data" / "manifest.jsonl")
    code = main(["--untrained", "--image-size", str(SIZE), "--data", str(manifest), "--split", "test",
                 "--out", str(tmp_path / "out"), "--max-photos", "3"])
    assert code == 0
    assert "Retrieval" in capsys.readouterr().out
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["photos"] == 3 and sum(m["preprocessing"]["methods"].values()) == 3


# ---------------------------------------------------------------------------------- evaluation v2: galleries etc.


def _item_colour(i: int) -> tuple[int, int, int]:
    """A distinct saturated colour per item (max - min >= 60, so no preprocessing step mistakes it for background)."""
    return (220 - 5 * (i % 8), 30 + 20 * ((i // 8) % 8), 40 + 5 * (i // 64))


CUTS, PATTERNS = ("t-shirt", "hoodie"), ("solid", "stripes", "dots")


def make_catalogue(root: Path, n_test: int = 10, n_val: int = 10, n_train: int = 20, photos: int = 2):
    """Items 0..n_test-1 are test, then val, then train; a colour block on white per item. Returns (records,
    items). Attributes: item i has cut CUTS[i % 2], pattern PATTERNS[i % 3], colour 'c{i % 5}' (so even test items share
    their combination with train item i + 30), except odd test items, whose colour 'new{i}' no train item has; every
    item's spec is unique (neckline 'n{i}')."""
    records, items = [], {}
    splits = ["test"] * n_test + ["val"] * n_val + ["train"] * n_train
    for i, split in enumerate(splits):
        colour = _item_colour(i)
        stock = np.full((40, 32, 3), 255, np.uint8)
        stock[8:32, 6:26] = colour
        stock_path = _save(root / "stock" / f"{i}.png", stock)
        item_id = f"sku{i:03d}"
        items[item_id] = {"item_id": item_id, "garment": "top" if i % 4 else "bottom", "cut": CUTS[i % 2],
                          "colour": f"new{i}" if split == "test" and i % 2 else f"c{i % 5}",
                          "pattern": PATTERNS[i % 3], "secondary": "white", "neckline": f"n{i}",  # unique specs
                          "motif": "", "split": split, "unseen_combination": False}
        for j in range(photos):
            photo = np.full((H, W, 3), 250, np.uint8)
            photo[20 + j : 50 + j, 20:40] = colour
            records.append(PairRecord(photo=_save(root / "photos" / f"{i}_{j}.png", photo), stock=stock_path,
                                      item_id=item_id, garment="top", split=split))
    return records, items


class ResizePreprocessor:
    def __call__(self, image, garment="top"):
        return SimpleNamespace(image=image.resize((SIZE, SIZE), Image.Resampling.NEAREST), method="resize",
                               warnings=[])


class IdentityGenerator:
    """G1 = G2 = the preprocessed photo: a perfect embedder then finds every item from every query."""

    info = {"label": "identity", "trained": False, "image_size": SIZE, "step": 0, "data_fingerprint": None}

    def forward_preprocessed(self, photos):
        return photos.clone(), photos.clone()


class ColourCodeEmbed:
    """One-hot of the item whose colour is the image's most common saturated colour; no saturated pixel (a blank
    image) -> the last dimension, which ties with every catalogue image. ``alias`` maps an item to another's code."""

    def __init__(self, n_items: int, alias: dict[int, int] | None = None):
        self.table = np.array([_item_colour(i) for i in range(n_items)], np.int64)
        self.alias = alias or {}
        self.__name__ = "colour_code"

    def __call__(self, images):
        out = np.zeros((len(images), len(self.table) + 1), np.float32)
        for row, im in enumerate(images):
            a = np.asarray(im.convert("RGB"), np.int64).reshape(-1, 3)
            a = a[a.max(1) - a.min(1) >= 60]
            if not len(a):
                out[row, -1] = 1.0
                continue
            colours, counts = np.unique(a, axis=0, return_counts=True)
            mode = colours[counts.argmax()]
            i = int(np.abs(self.table - mode).sum(1).argmin())
            out[row, self.alias.get(i, i)] = 1.0
        return out


def constant_embed(images):
    return np.ones((len(images), 4), np.float32)


def mean_colour_embed(images):
    """Scores that differ between catalogue images (no ties), blank included."""
    v = np.array([np.r_[np.asarray(im.convert("RGB"), np.float32).mean((0, 1)) / 255.0, 0.3] for im in images])
    return (v - np.array([0.6, 0.6, 0.6, 0.0])).astype(np.float32)


def _run(tmp_path, **kw):
    records, items = make_catalogue(tmp_path / "data")
    kw.setdefault("embed", ColourCodeEmbed(40))
    kw.setdefault("gallery_sizes", (5, 10, 20, 40, 100, None))
    return evaluate(IdentityGenerator(), records, preprocessor=ResizePreprocessor(), **kw), records, items


def test_plan_galleries_nests_targets_and_distractors():
    targets = list(range(10))
    galleries, skipped = plan_galleries(40, targets, (5, 10, 20, 40, 100, None), seed=3)
    assert [g.label for g in galleries] == ["5", "10", "20", "40", "all"] and skipped == [100]
    by = {g.label: g for g in galleries}
    assert by["5"].size == 5 and by["5"].columns[10:].sum() == 0  # fewer than the targets: targets only
    assert by["10"].columns[:10].all() and by["10"].size == 10
    assert by["20"].columns[:10].all() and by["20"].columns[10:].sum() == 10 and by["20"].distractors == 10
    assert by["all"].columns.all() and by["40"].columns.all()
    for small, big in (("10", "20"), ("20", "40")):
        assert not (by[small].columns & ~by[big].columns).any()  # nested
    again, _ = plan_galleries(40, targets, (5, 10, 20, 40, 100, None), seed=3)
    assert all((a.columns == b.columns).all() for a, b in zip(galleries, again))  # seeded
    other, _ = plan_galleries(40, targets, (20,), seed=4)
    assert not (other[0].columns == by["20"].columns).all()


def test_gallery_curve_perfect_embedder_and_distractors(tmp_path):
    m, records, _ = _run(tmp_path)
    g = m["gallery"]
    assert g["manifest_items"] == 40 and g["target_items"] == 10 and g["distractor_pool"] == 30
    assert g["skipped"] == [100]
    assert {k: v["gallery_items"] for k, v in g["sizes"].items()} == {"5": 5, "10": 10, "20": 20, "40": 40, "all": 40}
    assert g["sizes"]["20"]["distractor_items"] == 10 and g["sizes"]["5"]["queries"] == 10
    curve = m["curves"]["colour_code"]["all"]
    for label, entry in curve.items():
        n = entry["gallery_items"]
        assert entry["chance"]["top1"] == pytest.approx(1 / n)
        assert entry["queries_n"] == (10 if label == "5" else 20)
        for kind in ("photo", "preprocessed", "g1", "g2"):
            assert entry["queries"][kind]["top1"] == 1.0 and entry["queries"][kind]["top1_se"] == 0.0
        # The blank query ties with everything: exactly chance at every size.
        assert entry["queries"]["blank"]["top1"] == pytest.approx(1 / n)
        assert entry["queries"]["blank"]["top5"] == pytest.approx(min(5, n) / n)
    assert m["summary"]["g2_top1_by_gallery"] == {"5": 1.0, "10": 1.0, "20": 1.0, "40": 1.0, "all": 1.0}


def test_distractors_are_really_in_the_gallery_and_se_is_computed(tmp_path):
    # Train items 30..34 embed exactly like test items 0..4: look-alike distractors.
    m, _, _ = _run(tmp_path, embed=ColourCodeEmbed(40, alias={30 + k: k for k in range(5)}))
    curve = m["curves"]["colour_code"]["all"]
    assert curve["10"]["queries"]["g2"]["top1"] == 1.0  # targets only: perfect
    full = curve["all"]["queries"]["g2"]
    assert full["top1"] == pytest.approx(0.75) and full["top5"] == 1.0  # half the queries tie with a distractor
    expected_se = np.std([0.5] * 10 + [1.0] * 10, ddof=1) / np.sqrt(20)
    assert full["top1_se"] == pytest.approx(expected_se) and full["top1_se"] > 0
    assert full["mrr"] == pytest.approx(0.875) and full["mrr_se"] > 0 and full["n"] == 20


def test_constant_and_blank_queries_sit_at_chance(tmp_path):
    m, _, _ = _run(tmp_path, embed=None, embedders={"const": constant_embed, "mean": mean_colour_embed})
    assert m["embedders"] == ["const", "mean"] and m["embedder"] == "const"
    for label, entry in m["curves"]["const"]["all"].items():
        for kind in ("photo", "preprocessed", "g1", "g2", "blank"):
            q = entry["queries"][kind]
            assert q["top1"] == pytest.approx(entry["chance"]["top1"])
            assert q["mrr"] == pytest.approx(entry["chance"]["mrr"])
    # With an embedder that scores catalogue images differently (no ties), the blank query is still exactly chance
    # on a gallery of targets only (every item has 2 photos, so whatever the blank ranks first gets 2 of 2n queries
    # right); with distractors it is chance in expectation over galleries.
    for label in ("5", "10"):
        entry = m["curves"]["mean"]["all"][label]
        blank = entry["queries"]["blank"]
        assert blank["top1"] == pytest.approx(entry["chance"]["top1"])
        assert blank["top5"] == pytest.approx(entry["chance"]["top5"])
        assert blank["top1_se"] > 0  # hits on some queries, misses on others


def test_two_embedders_give_two_sets_of_rows(tmp_path):
    records, items = make_catalogue(tmp_path / "data")
    m = evaluate(IdentityGenerator(), records, embed=ColourCodeEmbed(40), embedders={"const": constant_embed},
                 items=items, preprocessor=ResizePreprocessor(), gallery_sizes=(20, None), out_dir=tmp_path / "out")
    assert m["embedders"] == ["colour_code", "const"]
    assert set(m["curves"]) == {"colour_code", "const"} and set(m["by_attribute"]) == {"colour_code", "const"}
    assert m["curves"]["colour_code"]["all"]["all"]["queries"]["g2"]["top1"] == 1.0
    assert m["curves"]["const"]["all"]["all"]["queries"]["g2"]["top1"] == pytest.approx(1 / 40)
    assert m["summary"]["g2_top1"] == 1.0  # the first embedder is the headline
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "embedder `colour_code`" in md and "embedder `const`" in md and "by pattern" in md
    assert (tmp_path / "out" / "gallery_curve.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["curves"] == m["curves"]


def test_per_pattern_and_garment_rows(tmp_path):
    m, _, items = _run(tmp_path, items=make_catalogue(tmp_path / "x")[1])
    rows = m["by_attribute"]["colour_code"]
    # test items 0..9: pattern i % 3 -> solid 0,3,6,9 / stripes 1,4,7 / dots 2,5,8 (2 photos each)
    assert {v: r["g2"]["n"] for v, r in rows["pattern"].items()} == {"dots": 6, "solid": 8, "stripes": 6}
    assert {v: r["preprocessed"]["n"] for v, r in rows["garment"].items()} == {"bottom": 6, "top": 14}
    assert all(r["g2"]["top1"] == 1.0 and "top1_se" in r["g2"] for r in rows["pattern"].values())


def test_unseen_combinations_are_exactly_those_absent_from_train(tmp_path):
    records, items = make_catalogue(tmp_path / "data")
    split = {r.item_id: r.split for r in records}
    train = {(a["cut"], a["pattern"], a["colour"]) for i, a in items.items() if split[i] == "train"}
    expected = {i for i, a in items.items()
                if split[i] == "test" and (a["cut"], a["pattern"], a["colour"]) not in train}
    assert expected == {f"sku{i:03d}" for i in (1, 3, 5, 7, 9)}
    items["sku000"]["unseen_combination"] = True  # a flag alone does not make an item unseen
    unseen, seen, n_train = unseen_items(sorted(i for i in split if split[i] == "test"), split, items)
    assert unseen == expected and seen == {i for i in split if split[i] == "test"} - expected
    assert n_train == len(train)

    m = evaluate(IdentityGenerator(), records, embed=ColourCodeEmbed(40), items=items,
                 preprocessor=ResizePreprocessor(), gallery_sizes=(5, None))
    u = m["unseen_combinations"]
    assert u["unseen_items"] == len(expected) and u["queries"]["unseen"] == 2 * len(expected)
    assert u["flagged_items"] == 1 and u["flagged_but_seen"] == int("sku000" not in expected)
    curves = m["curves"]["colour_code"]
    assert curves["unseen"]["all"]["queries_n"] == 2 * len(expected)
    assert curves["seen"]["all"]["queries_n"] == 20 - 2 * len(expected)
    assert curves["unseen"]["all"]["gallery_items"] == curves["seen"]["all"]["gallery_items"] == 40  # same galleries
    assert m["summary"]["unseen_g2_top1"] == 1.0


def test_ceiling_counts_spec_lookalikes(tmp_path):
    records, items = make_catalogue(tmp_path / "data")
    # Train item 30 gets exactly the spec of test item 0 (its colour differs, but the spec does not say so).
    items["sku030"] = {**items["sku000"], "item_id": "sku030", "split": "train"}
    m = evaluate(IdentityGenerator(), records, embed=ColourCodeEmbed(40), items=items,
                 preprocessor=ResizePreprocessor(), gallery_sizes=(10, None))
    curve = m["curves"]["colour_code"]["all"]
    assert curve["10"]["ceiling"]["top1"] == 1.0  # the look-alike is a distractor, not in the targets-only gallery
    ceiling = curve["all"]["ceiling"]
    assert ceiling["top1"] == pytest.approx((18 + 2 * 0.5) / 20) and ceiling["top5"] == 1.0
    assert ceiling["mrr"] == pytest.approx((18 + 2 * 0.75) / 20)
    assert ceiling["queries_with_lookalikes"] == 2
    assert curve["all"]["g2_fraction_of_ceiling"] == pytest.approx(1.0 / ceiling["top1"])
    assert m["summary"]["ceiling_top1"] == pytest.approx(ceiling["top1"])


def test_ceiling_ignores_secondary_colour_of_solid_items():
    a = {"garment": "top", "cut": "t-shirt", "colour": "red", "pattern": "solid", "secondary": "blue",
         "neckline": "crew", "motif": ""}
    assert spec_key(a) == spec_key({**a, "secondary": "green"})
    assert spec_key({**a, "pattern": "stripes"}) != spec_key({**a, "pattern": "stripes", "secondary": "green"})


class GatedEmbedder:
    def __init__(self, gate, n_items: int = 40):
        self.gate, self.version = gate, "gated"
        self._embed = ColourCodeEmbed(n_items)

    def embed_images(self, images):
        return self._embed(images)


class _Always:
    def is_confident(self, scores):
        return True


class _Never:
    def is_confident(self, scores):
        return False


def test_gate_coverage_and_precision(tmp_path):
    m, _, _ = _run(tmp_path, embed=None, gallery_sizes=(5, 20, None), embedders={
        "always": GatedEmbedder(_Always()), "never": GatedEmbedder(_Never()),
        "calibrated": GatedEmbedder(ConfidenceGate(threshold=0.5)), "plain": ColourCodeEmbed(40)})
    assert set(m["gates"]) == {"always", "never", "calibrated"}  # a plain function has no gate
    for label in ("5", "20", "all"):
        always = m["gates"]["always"]["by_gallery"][label]
        assert always["coverage"] == 1.0 and always["confident_precision"] == 1.0
        assert always["blank_confident"] == always["blank_queries"] == always["queries"] > 0
        never = m["gates"]["never"]["by_gallery"][label]
        assert never["coverage"] == 0.0 and never["confident_precision"] is None and never["blank_confident"] == 0
        calibrated = m["gates"]["calibrated"]["by_gallery"][label]  # perfect matches score 1, blank scores 0
        assert calibrated["coverage"] == 1.0 and calibrated["blank_confident"] == 0
    assert m["gates"]["calibrated"]["threshold"] == 0.5


def test_retrieval_is_fast_at_catalogue_size():
    rng = np.random.default_rng(0)
    n_items, n_q, dim = 2400, 500, 128
    gallery = rng.normal(size=(n_items, dim)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    targets = rng.integers(0, 500, n_q)
    galleries, _ = plan_galleries(n_items, range(500), (200, 500, 1000, 2000, None))
    assert all(isinstance(g, Gallery) for g in galleries)
    queries = {k: gallery[targets] + 0.8 * rng.normal(size=(n_q, dim)).astype(np.float32)
               for k in ("photo", "preprocessed", "g1", "g2")}
    queries["blank"] = rng.normal(size=(1, dim)).astype(np.float32)
    subsets = {"all": np.ones(n_q, bool), "seen": rng.random(n_q) < 0.5, "unseen": None}
    t0 = time.perf_counter()
    for _ in range(2):  # two embedders
        report = retrieval_report(queries, gallery, targets, galleries, subsets, gate=ConfidenceGate(0.3))
    elapsed = time.perf_counter() - t0
    assert elapsed < 20, elapsed  # seconds, not minutes (about 1 s on 2 busy cores)
    g2 = report["curves"]["all"]
    assert g2["200"]["queries_n"] < n_q and g2["all"]["queries_n"] == n_q
    assert g2["200"]["queries"]["g2"]["top1"] >= g2["all"]["queries"]["g2"]["top1"]
    assert set(report["gate"]) == {"200", "500", "1000", "2000", "all"}


def test_cli_parses_gallery_sizes_and_items(tmp_path, monkeypatch):
    records, items = make_catalogue(tmp_path / "data", n_test=4, n_val=2, n_train=4, photos=1)
    manifest = write_manifest(records, tmp_path / "data" / "manifest.jsonl")
    with open(tmp_path / "data" / "items.jsonl", "w") as f:
        for row in items.values():
            f.write(json.dumps(row) + "\n")
    seen = {}

    def fake_evaluate(generator, records, **kw):
        seen.update(kw)
        raise ValueError("stop here")

    monkeypatch.setattr(ev, "evaluate", fake_evaluate)
    monkeypatch.setattr(ev, "load_generator", lambda *a: IdentityGenerator())
    code = ev.main(["--untrained", "--data", str(manifest), "--out", str(tmp_path / "out"),
                    "--gallery-sizes", "3,all", "--embedder", "hcg1", "--embedder", "hcg1"])
    assert code == 2
    assert seen["gallery_sizes"] == (3, None) and set(seen["items"]) == set(items)
    assert list(seen["embedders"]) == ["hcg1"] and hasattr(seen["embedders"]["hcg1"], "gate")


class BlankG2Generator(IdentityGenerator):
    """G1 = the preprocessed photo, G2 = a white image: G2 alone finds nothing, the photo finds everything."""

    def forward_preprocessed(self, photos):
        return photos.clone(), torch.ones_like(photos)


class FusingEmbedder(GatedEmbedder):
    """A version whose query fuses G2's output with the preprocessed photo (``search.learned.LearnedEmbedder``'s
    ``photo_weight`` / ``embed_queries`` shape); here the query is the photo's code plus G2's."""

    photo_weight = 1.0

    def embed_queries(self, generated, photos=None):
        g2 = self._embed(generated)
        return g2 + self._embed(photos) if photos is not None else g2


def test_an_embedder_that_fuses_the_photo_gets_a_product_query_row_and_its_gate_judges_that_query(tmp_path):
    records, items = make_catalogue(tmp_path / "data")
    m = evaluate(BlankG2Generator(), records, preprocessor=ResizePreprocessor(), gallery_sizes=(20, None),
                 embedders={"fusing": FusingEmbedder(ConfidenceGate(threshold=0.5)),
                            "plain": GatedEmbedder(ConfidenceGate(threshold=0.5))}, out_dir=tmp_path / "out")
    fusing = m["curves"]["fusing"]["all"]["all"]["queries"]
    assert fusing["g2"]["top1"] < 0.2 and fusing["query"]["top1"] == 1.0  # the photo carried the query
    assert "query" not in m["curves"]["plain"]["all"]["all"]["queries"]  # G2 alone is that embedder's query
    assert m["gates"]["fusing"]["by_gallery"]["all"]["coverage"] == 1.0  # judged on the fused query, not on G2
    assert m["gates"]["plain"]["by_gallery"]["all"]["coverage"] == 0.0
    assert "product query: G2 output + preprocessed photo" in (tmp_path / "out" / "metrics.md").read_text()
