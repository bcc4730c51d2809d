"""The garment-conditioning check (``imagegen.offline.silhouette``) and its place in the evaluation
(``offline.evaluate_generator.evaluate``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imagegen.offline.data import PairRecord
from imagegen.offline.silhouette import classify, silhouette_report
from offline.evaluate_generator import evaluate
from tests.imagegen.test_evaluate import StubPreprocessor, colour_histogram_embed

SIZE = 32
TYPES = ("top", "bottom", "whole")


def draw(garment: str, colour=(200, 40, 40), jitter: int = 0) -> np.ndarray:
    """A catalogue-like image: a top is wide and short, a bottom two legs, a whole garment long and wide."""
    a = np.full((SIZE, SIZE, 3), 255, np.uint8)
    j = jitter
    if garment == "top":
        a[4 + j : 18 + j, 3:29] = colour
    elif garment == "bottom":
        a[4 + j : 30, 8:15] = colour
        a[4 + j : 30, 17:24] = colour
    else:
        a[2 + j : 31, 7:25] = colour
    return a


def test_classify_names_each_drawn_type():
    bank = np.stack([draw(g, jitter=j) for g in TYPES for j in range(3)])
    kinds = [g for g in TYPES for _ in range(3)]
    assert classify(bank, bank, kinds, k=3, leave_one_out=True) == kinds
    assert classify(np.stack([draw("bottom", (30, 30, 30), jitter=1)]), bank, kinds) == ["bottom"]


def test_report_on_a_model_that_obeys_and_one_that_ignores_the_type():
    truths = np.stack([draw(g, jitter=j) for g in TYPES for j in range(6)])
    kinds = [g for g in TYPES for _ in range(6)]
    obeys = {g: np.stack([draw(g, jitter=1)] * len(kinds)) for g in TYPES}
    report = silhouette_report(obeys, truths, kinds)
    assert report["rate"] == 1.0 and report["truth_accuracy"] == 1.0 and report["n"] == 3 * len(kinds)
    assert all(row["share_differ"] == 1.0 and row["mean_abs_diff"] > 2 for row in report["pairwise"].values())

    ignores = {g: np.stack([draw("top")] * len(kinds)) for g in TYPES}
    report = silhouette_report(ignores, truths, kinds)
    assert abs(report["rate"] - 1 / 3) < 1e-9  # right only when a top was asked for
    assert report["per_type"]["bottom"]["called"] == {"top": len(kinds)}
    assert all(row["mean_abs_diff"] == 0.0 and row["share_differ"] == 0.0 for row in report["pairwise"].values())


class DrawingGenerator:
    """A conditioned stand-in: G2 draws the requested type's shape (or always a top, with ``obey=False``)."""

    garments = TYPES
    info = {"label": "drawing", "trained": False, "image_size": SIZE, "step": 0, "data_fingerprint": None}

    def __init__(self, obey: bool = True):
        self.obey = obey

    def forward_preprocessed(self, photos, garments):
        out = torch.stack([torch.from_numpy(draw(g if self.obey else "top")).permute(2, 0, 1).float() / 127.5 - 1
                           for g in garments])
        return out, out


def _records(root: Path) -> list[PairRecord]:
    records = []
    for i in range(9):
        g = TYPES[i % 3]
        (root / "stock").mkdir(parents=True, exist_ok=True)
        (root / "photos").mkdir(parents=True, exist_ok=True)
        stock = root / "stock" / f"{i}.png"
        Image.fromarray(draw(g, colour=(40 + 20 * i, 90, 200 - 15 * i), jitter=i % 2)).save(stock)
        photo = root / "photos" / f"{i}.png"
        a = np.full((80, 60, 3), 120, np.uint8)
        a[20:50, 20:40] = (40 + 20 * i, 90, 200 - 15 * i)
        Image.fromarray(a).save(photo)
        records.append(PairRecord(photo=photo, stock=stock, item_id=f"sku{i}", garment=g, split="test"))
    return records


def test_evaluate_reports_conditioning_and_writes_its_grid(tmp_path):
    records = _records(tmp_path / "data")
    m = evaluate(DrawingGenerator(), records, split="test", out_dir=tmp_path / "out", embed=colour_histogram_embed,
                 preprocessor=StubPreprocessor(), gallery_sizes=(None,))
    c = m["garment_conditioning"]
    assert c["rate"] == 1.0 and c["n"] == 27 and set(c["per_type"]) == set(TYPES)
    assert set(m["image_quality"]["by_garment"]) == set(TYPES)
    assert m["image_quality"]["by_garment"]["top"]["photos"] == 3
    md = (tmp_path / "out" / "metrics.md").read_text()
    assert "## Garment type on request" in md and "**100.0 %** of 27" in md and "| bottom vs whole |" in md
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["garment_conditioning"]["rate"] == 1.0
    with Image.open(tmp_path / "out" / "conditioning.png") as grid:
        assert grid.width >= 5 * 128  # photo, preprocessed, one column per type

    ignoring = evaluate(DrawingGenerator(obey=False), records, split="test", embed=colour_histogram_embed,
                        preprocessor=StubPreprocessor(), gallery_sizes=(None,))
    assert abs(ignoring["garment_conditioning"]["rate"] - 1 / 3) < 1e-9


def test_unconditioned_model_is_checked_with_only_the_crop_following_the_type(tmp_path):
    import imagegen.generator as generator_mod

    records = _records(tmp_path / "data")
    m = evaluate(generator_mod.StockImageGenerator.untrained(image_size=SIZE, seed=0), records, split="test",
                 embed=colour_histogram_embed, preprocessor=StubPreprocessor(), gallery_sizes=(None,))
    c = m["garment_conditioning"]
    assert c["conditioned"] is False and set(c["per_type"]) == set(TYPES) and c["n"] == 27
    # the stub preprocessor crops the same whatever the type, and v1 ignores the type: one output per photo
    assert all(row["mean_abs_diff"] == 0.0 for row in c["pairwise"].values())
