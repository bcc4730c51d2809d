"""Checkpoint round trips, rejection of bad files, resume, and the inference wrapper built on them."""

import json
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from PIL import Image

from imagegen.checkpoint import (FORMAT_VERSION, KIND, CheckpointError, load_checkpoint, load_training_state,
                                 save_checkpoint)
from imagegen.generator import StockImageGenerator
from imagegen.networks import GANConfig, build_generators
from imagegen.offline.train import SyntheticPairs, TrainConfig, train

SMALL = GANConfig(image_size=32, base_width=8, disc_width=8)


def _photos(n=3, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.fixture()
def stub_preprocess(monkeypatch):
    """Stands in for the generator's preprocessor (mediapipe) with a centre-resize, so ``generate`` runs anywhere."""

    @dataclass
    class Result:
        image: Image.Image
        method: str = "centre"
        warnings: list = field(default_factory=lambda: ["stub preprocessor"])

    def get_preprocessor(size=64):
        return lambda image, garment="top": Result(image.convert("RGB").resize((size, size)))

    monkeypatch.setattr("imagegen.generator.get_preprocessor", get_preprocessor)


def test_round_trip_float32_is_exact_and_half_is_close(tmp_path):
    torch.manual_seed(0)
    g1, g2 = build_generators(SMALL)
    ref = StockImageGenerator(g1, g2, SMALL, label="ref", trained=True)
    x = _photos()
    want1, want2 = ref.forward_preprocessed(x)

    save_checkpoint(tmp_path / "f32.pt", g1, g2, SMALL, step=123, data_fingerprint="abc", metrics={"val_l2": 0.5})
    save_checkpoint(tmp_path / "f16.pt", g1, g2, SMALL, step=123, half=True)
    gen = StockImageGenerator.from_checkpoint(tmp_path / "f32.pt")
    got1, got2 = gen.forward_preprocessed(x)
    assert torch.equal(got1, want1) and torch.equal(got2, want2)
    assert gen.info == {"label": "f32-step123", "trained": True, "image_size": 32, "step": 123,
                        "data_fingerprint": "abc", "metrics": {"val_l2": 0.5}}

    ckpt = load_checkpoint(tmp_path / "f16.pt")
    assert ckpt.stored_dtype == "float16" and all(v.dtype == torch.float32 for v in ckpt.g1_state.values())
    half1, half2 = StockImageGenerator.from_checkpoint(tmp_path / "f16.pt").forward_preprocessed(x)
    assert (half2 - want2).abs().max() < 0.02 and not torch.equal(half2, want2)
    assert (tmp_path / "f16.pt").stat().st_size < 0.6 * (tmp_path / "f32.pt").stat().st_size


def test_default_model_half_checkpoint_is_small(tmp_path):
    gen = StockImageGenerator.untrained(image_size=64, seed=0)
    path = save_checkpoint(tmp_path / "default.pt", gen.g1, gen.g2, gen.config, half=True)
    assert path.stat().st_size < 25 * 2 ** 20


def test_generate_same_output_after_save_and_load(tmp_path, stub_preprocess):
    gen = StockImageGenerator.untrained(image_size=64, seed=0)
    assert gen.info["label"] == "untrained-seed0" and gen.info["trained"] is False
    photo = Image.new("RGB", (80, 120), (200, 30, 30))
    before = gen.generate(photo, "top")
    save_checkpoint(tmp_path / "m.pt", gen.g1, gen.g2, gen.config)
    loaded = StockImageGenerator.from_checkpoint(tmp_path / "m.pt")
    after = loaded.generate(photo, "top")
    assert np.array_equal(np.asarray(before.stock), np.asarray(after.stock))
    assert np.array_equal(np.asarray(before.stage1), np.asarray(after.stage1))
    assert after.stock.size == (64, 64) and after.method == "centre" and after.warnings == ["stub preprocessor"]
    assert set(after.timings_ms) == {"preprocess", "stage1", "stage2", "total"} and after.trained
    batch = loaded.generate_batch([photo, photo.rotate(90)], ["top", "whole"])
    assert np.array_equal(np.asarray(batch[0].stock), np.asarray(after.stock))  # batching does not change an output


def test_untrained_is_seeded_and_leaves_global_rng_alone():
    x = _photos(2, 64)
    state = torch.get_rng_state()
    a = StockImageGenerator.untrained(seed=0).forward_preprocessed(x)[1]
    assert torch.equal(torch.get_rng_state(), state)
    b = StockImageGenerator.untrained(seed=0).forward_preprocessed(x)[1]
    c = StockImageGenerator.untrained(seed=1).forward_preprocessed(x)[1]
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_bad_files_raise_checkpoint_error(tmp_path):
    g1, g2 = build_generators(SMALL)
    good = save_checkpoint(tmp_path / "good.pt", g1, g2, SMALL)
    payload = torch.load(good, weights_only=True)

    torch.save({**payload, "format_version": FORMAT_VERSION + 1}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version 2.*reads version 1"):
        load_checkpoint(tmp_path / "future.pt")

    torch.save({**payload, "kind": "search.index"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="'search.index' file, expected a 'imagegen.generators'"):
        load_checkpoint(tmp_path / "other.pt")

    torch.save(g1.state_dict(), tmp_path / "bare_state_dict.pt")
    with pytest.raises(CheckpointError, match="no 'kind' marker"):
        load_checkpoint(tmp_path / "bare_state_dict.pt")

    (tmp_path / "garbage.pt").write_bytes(b"\x00garbage, not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="not a readable generator checkpoint"):
        load_checkpoint(tmp_path / "garbage.pt")

    (tmp_path / "truncated.pt").write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="not a readable"):
        StockImageGenerator.from_checkpoint(tmp_path / "truncated.pt")

    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")

    other = GANConfig(image_size=32, base_width=16, disc_width=8)
    torch.save({**payload, "gan_config": other.to_dict()}, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(tmp_path / "mismatch.pt").build()

    assert isinstance(CheckpointError("x"), ValueError) and payload["kind"] == KIND


def test_resume_continues_the_step_count_and_matches_an_uninterrupted_run(tmp_path):
    data = SyntheticPairs(n_items=4, photos_per_item=2, image_size=32, seed=2)
    cfg = dict(image_size=32, base_width=8, disc_width=8, batch_size=4, log_every=1, sample_every=0,
               checkpoint_every=0, progress_bar=False, device="cpu")
    straight = train(TrainConfig(steps=7, **cfg), data, tmp_path / "straight")

    first = train(TrainConfig(steps=4, **cfg), data, tmp_path / "run")
    assert first.step == 4
    with pytest.raises(CheckpointError, match="expected a 'imagegen.generators'"):
        load_checkpoint(first.training_state_path)  # the two kinds of file cannot be confused
    assert load_training_state(first.training_state_path)["step"] == 4

    resumed = train(TrainConfig(steps=7, resume=True, **cfg), data, tmp_path / "run")
    assert resumed.resumed_from == 4 and resumed.step == 7
    assert load_checkpoint(resumed.checkpoint_path).step == 7
    assert StockImageGenerator.from_checkpoint(resumed.checkpoint_path).info["label"] == "run-step7"
    assert [h["step"] for h in resumed.history] == list(range(1, 8))
    assert resumed.history == straight.history  # resume is exact: same data order, optimiser and RNG state
    lines = (tmp_path / "run" / "losses.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == list(range(1, 8))


def test_cli_generate(tmp_path, stub_preprocess, capsys):
    from imagegen.__main__ import main

    gen = StockImageGenerator.untrained(image_size=64, seed=0)
    save_checkpoint(tmp_path / "m.pt", gen.g1, gen.g2, gen.config, half=True)
    Image.new("RGB", (90, 90), (10, 120, 200)).save(tmp_path / "photo.jpg")
    rc = main(["generate", str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "out.png"), "--checkpoint",
               str(tmp_path / "m.pt"), "--garment", "top", "--intermediates", str(tmp_path / "stages")])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trained"] is True and summary["method"] == "centre"
    assert Image.open(tmp_path / "out.png").size == (64, 64)
    assert {p.name for p in (tmp_path / "stages").iterdir()} == {"preprocessed.png", "stage1.png", "stock.png"}
    (tmp_path / "bad.pt").write_bytes(b"nope")
    assert main(["generate", str(tmp_path / "photo.jpg"), "-o", str(tmp_path / "x.png"),
                 "--checkpoint", str(tmp_path / "bad.pt")]) == 2
