"""Training: it learns (overfits a handful of pairs), is deterministic, writes its outputs, stops when asked."""

import json

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from imagegen.checkpoint import load_checkpoint
from imagegen.networks import build_generators, combine
from imagegen.offline.train import SyntheticPairs, TrainConfig, seed_everything, train


def _tiny(**kw) -> TrainConfig:
    base = dict(image_size=32, base_width=8, disc_width=8, batch_size=4, steps=6, log_every=1, sample_every=0,
                checkpoint_every=0, progress_bar=False, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_overfits_a_handful_of_pairs_and_writes_outputs(tmp_path):
    """~100 steps on 8 fixed pairs: G2 gets far closer to the ground truth than the untrained model, and the
    second stage beats the first (it sees the photo AND G1's attempt, and has the strong L2 term)."""
    data = SyntheticPairs(n_items=8, image_size=32, seed=0)
    cfg = _tiny(base_width=16, disc_width=16, batch_size=8, steps=100, log_every=10, sample_every=50)

    photo = torch.stack([it["photo"] for it in data.items])
    stock = torch.stack([it["stock"] for it in data.items])
    seed_everything(cfg.seed)  # the same init train() starts from
    g1, g2 = build_generators(cfg.gan_config())
    with torch.no_grad():
        untrained_l2 = F.mse_loss(g2(combine(photo, g1(photo))), stock).item()

    calls = []
    result = train(cfg, data, tmp_path, val_set=data, on_progress=lambda s, t, l: calls.append((s, t, l)))

    assert result.step == 100 and not result.stopped_early
    trained_l2, stage1_l2 = result.metrics["val_l2"], result.metrics["val_l2_stage1"]
    assert trained_l2 < 0.5 * untrained_l2, (trained_l2, untrained_l2)
    assert trained_l2 < stage1_l2, (trained_l2, stage1_l2)

    # on_progress: every log interval, with the loss dict
    assert [c[0] for c in calls] == list(range(10, 101, 10)) and all(c[1] == 100 for c in calls)
    assert {"d_real", "d_assoc1", "d_assoc2", "g1_total", "g2_l2"} <= set(calls[-1][2])

    # outputs: sample grid (4 columns: photo | G1 | G2 | truth, one row per sample), loss plot, JSON log
    with Image.open(result.sample_grid_path) as grid:
        assert grid.size == (2 + 4 * 34, 2 + 8 * 34)  # make_grid: 32 px tiles, 2 px padding
    assert (tmp_path / "samples" / "step_000050.png").is_file()
    with Image.open(result.loss_plot_path) as plot:
        assert plot.size[0] > 300
    rows = [json.loads(line) for line in (tmp_path / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(10, 101, 10))
    assert rows[-1]["g2_l2"] < rows[0]["g2_l2"]
    ckpt = load_checkpoint(result.checkpoint_path)
    assert ckpt.step == 100 and ckpt.data_fingerprint == data.fingerprint
    assert ckpt.metrics["val_l2"] == pytest.approx(trained_l2)


def test_same_seed_same_losses(tmp_path):
    data = SyntheticPairs(n_items=4, photos_per_item=2, image_size=32, seed=1)  # includes same-item pairs
    a = train(_tiny(seed=3), data, tmp_path / "a")
    b = train(_tiny(seed=3), data, tmp_path / "b")
    c = train(_tiny(seed=4), data, tmp_path / "c")
    assert len(a.history) == 6
    assert a.history == b.history
    assert a.history != c.history  # the seed matters (so the equality above is not vacuous)


def test_on_progress_raising_stops_cleanly_and_saves(tmp_path):
    data = SyntheticPairs(n_items=4, image_size=32)

    def heartbeat(step, total, losses):
        if step == 3:
            raise RuntimeError("task revoked")

    result = train(_tiny(steps=10), data, tmp_path, on_progress=heartbeat)
    assert result.stopped_early and "task revoked" in result.stop_reason
    assert result.step == 3
    assert load_checkpoint(tmp_path / "checkpoint.pt").step == 3
    assert (tmp_path / "training_state.pt").is_file() and result.sample_grid_path.is_file()


def test_epochs_and_small_dataset(tmp_path):
    """With steps=None, epochs x full batches; a data set smaller than a batch is one (short) batch per epoch."""
    data = SyntheticPairs(n_items=3, image_size=32)
    result = train(_tiny(steps=None, epochs=2, batch_size=8, log_every=5), data, tmp_path)
    assert result.total_steps == 2 and result.step == 2


def test_rejects_wrong_image_size(tmp_path):
    with pytest.raises(ValueError, match="image_size"):
        train(_tiny(image_size=64), SyntheticPairs(n_items=2, image_size=32), tmp_path)
