"""Training, resuming, saving and evaluating a v2 model (issue #10), end to end at 32 px with tiny widths."""

import json
from types import SimpleNamespace

import pytest
import torch

from imagegen.checkpoint import load_checkpoint, load_training_state, save_training_state
from imagegen.generator import StockImageGenerator
from imagegen.networks import build_generators, combine
from imagegen.offline.train import SyntheticPairs, TrainConfig, train

TINY = dict(image_size=32, base_width=8, disc_width=8, batch_size=4, log_every=1, sample_every=0,
            checkpoint_every=0, progress_bar=False, device="cpu")


@pytest.fixture(scope="module")
def data():
    return SyntheticPairs(n_items=6, photos_per_item=2, image_size=32, seed=5)


def test_synthetic_pairs_carry_every_garment_type(data):
    assert {it["garment"] for it in data.items} == {"top", "bottom", "whole"}


def test_v2_smoke_run_resumes_from_its_step_and_round_trips(tmp_path, data):
    straight = train(TrainConfig(arch="v2", steps=20, **TINY), data, tmp_path / "straight", val_set=data)

    first = train(TrainConfig(arch="v2", steps=10, **TINY), data, tmp_path / "run")
    assert first.step == 10
    state = load_training_state(first.training_state_path)
    assert state["step"] == 10 and state["gan_config"]["spectral_norm"] is True
    assert any(k.endswith("weight.original") for k in state["trainer"]["d"])  # the Ds' SN state is saved too

    resumed = train(TrainConfig(arch="v2", steps=20, resume=True, **TINY), data, tmp_path / "run", val_set=data)
    assert resumed.resumed_from == 10 and resumed.step == 20
    assert [h["step"] for h in resumed.history] == list(range(1, 21))
    assert resumed.history == straight.history  # exact: FiLM tables, SN power-iteration buffers and RNG resumed
    assert all(v == v and abs(v) < 1e4 for h in resumed.history for k, v in h.items())  # finite losses
    assert resumed.metrics == straight.metrics

    # the checkpoint says v2 and rebuilds the same generators through StockImageGenerator
    ckpt = load_checkpoint(resumed.checkpoint_path)
    assert ckpt.config.arch == "v2" and ckpt.step == 20
    assert json.loads((tmp_path / "run" / "config.json").read_text())["gan"]["garments"] == ["top", "bottom", "whole"]
    gen = StockImageGenerator.from_checkpoint(resumed.checkpoint_path, device="cpu")
    assert gen.garments == ("top", "bottom", "whole")
    photo = torch.stack([it["photo"] for it in data.items[:3]])
    garments = [it["garment"] for it in data.items[:3]]
    g1, g2 = build_generators(ckpt.config)
    g1.load_state_dict(ckpt.g1_state), g2.load_state_dict(ckpt.g2_state)
    idx = ckpt.config.garment_indices(garments, 3)
    with torch.no_grad():
        want1 = g1.eval()(photo, idx)
        want2 = g2.eval()(combine(photo, want1), idx)
    got1, got2 = gen.forward_preprocessed(photo, garments)
    assert torch.equal(got1, want1) and torch.equal(got2, want2)
    # the straight run's checkpoint holds the same weights as the resumed one
    other = load_checkpoint(straight.checkpoint_path)
    assert all(torch.equal(other.g2_state[k], v) for k, v in ckpt.g2_state.items())


def test_resume_accepts_a_state_saved_before_the_new_config_fields(tmp_path, data):
    first = train(TrainConfig(steps=3, **TINY), data, tmp_path)
    state = load_training_state(first.training_state_path)
    for key in ("garments", "upsample", "spectral_norm"):  # what a pre-v2 training_state.pt holds
        del state["gan_config"][key]
    save_training_state(first.training_state_path, {k: v for k, v in state.items()
                                                    if k not in ("kind", "format_version")})
    resumed = train(TrainConfig(steps=5, resume=True, **TINY), data, tmp_path)
    assert resumed.resumed_from == 3 and resumed.step == 5
    with pytest.raises(ValueError, match="cannot resume"):  # a v1 run cannot silently become a v2 one
        train(TrainConfig(arch="v2", steps=8, resume=True, **TINY), data, tmp_path)


def test_v2_needs_garment_labels_in_the_data(tmp_path, data):
    unlabelled = [{k: v for k, v in it.items() if k != "garment"} for it in data.items]
    with pytest.raises(ValueError, match="no 'garment'"):
        train(TrainConfig(arch="v2", steps=2, **TINY), unlabelled, tmp_path)
    with pytest.raises(ValueError, match="arch must be one of"):
        TrainConfig(arch="v9")


def test_cli_arch_flag_reaches_the_train_config(tmp_path, monkeypatch, capsys):
    import imagegen.offline.train
    from imagegen.__main__ import main

    seen = {}

    class FakePairs(list):
        fingerprint, num_items = "fake", 1

        def __init__(self, records, size, cache_dir=None):
            super().__init__(records)
            seen["size"] = size

        def prepare(self):
            return self

    def fake_train(config, train_set, out, val_set=None):
        seen["config"] = config
        return SimpleNamespace(checkpoint_path=out / "checkpoint.pt", step=0, total_steps=0, losses={}, metrics={},
                               pairs_per_s=0.0, elapsed_s=0.0, sample_grid_path=None, loss_plot_path=None,
                               stopped_early=False)

    # the CLI's training body (imagegen.offline.train.train_from_cli) reads the manifest and builds the data sets
    monkeypatch.setattr(imagegen.offline.train, "read_manifest", lambda path: [SimpleNamespace(split="train")])
    monkeypatch.setattr(imagegen.offline.train, "PairDataset", FakePairs)
    monkeypatch.setattr(imagegen.offline.train, "train", fake_train)
    assert main(["train", "--data", str(tmp_path / "m.jsonl"), "--out", str(tmp_path / "run"), "--arch", "v2",
                 "--size", "128", "--steps", "10"]) == 0
    config = seen["config"]
    assert config.arch == "v2" and config.image_size == 128 and seen["size"] == 128
    assert config.gan_config().arch == "v2" and config.gan_config().unet_levels == 6
    assert main(["train", "--data", "m", "--out", str(tmp_path / "r1"), "--steps", "1"]) == 0
    assert seen["config"].arch == "v1"  # the default stays the shipped architecture
    assert seen["config"].warp_weight == 0 and seen["config"].tv_weight == 0  # flow terms only for v3
    assert main(["train", "--data", "m", "--out", str(tmp_path / "r3"), "--steps", "1", "--arch", "v3", "--size", "64",
                 "--levels", "6", "--init", "leg1.pt", "--amp"]) == 0
    config = seen["config"]
    assert config.gan_config().arch == "v3" and config.gan_config().unet_levels == 6 and config.init == "leg1.pt"
    assert config.warp_weight == 10 and config.tv_weight == 1 and config.amp
    with pytest.raises(SystemExit):
        main(["train", "--data", "m", "--out", "o", "--arch", "v9"])
    capsys.readouterr()


def test_evaluate_gives_a_conditioned_model_each_photos_type(tmp_path):
    from offline.evaluate_generator import evaluate
    from tests.imagegen.test_evaluate import SIZE, StubPreprocessor, colour_histogram_embed, make_eval_set

    records = make_eval_set(tmp_path)
    for i, r in enumerate(records):
        r.garment = ("top", "bottom", "whole")[(i // 2) % 3]  # per item, so every type is in the test split
    gen = StockImageGenerator.untrained(image_size=SIZE, seed=0, device="cpu", arch="v2")
    received = []
    original = gen.forward_preprocessed

    def spy(photos, garments=None):
        received.extend(garments)
        return original(photos, garments)

    gen.forward_preprocessed = spy
    m = evaluate(gen, records, embed=colour_histogram_embed, preprocessor=StubPreprocessor(), batch_size=5)
    test_records = sorted((r for r in records if r.split == "test"), key=lambda r: str(r.photo))
    # first the evaluation pass with each photo's own type, then the garment-on-request check: every photo as each type
    assert m["photos"] == 12 and len(received) == 12 + 3 * 12
    assert sorted(received[:12]) == sorted(r.garment for r in test_records)
    assert set(received[:12]) == {"top", "bottom", "whole"}
    assert received[12:] == ["top"] * 12 + ["bottom"] * 12 + ["whole"] * 12
    assert m["garment_conditioning"]["n"] == 36 and m["garment_conditioning"]["conditioned"] is True
