"""The learned embedder: the shipped ImageNet weights are what they claim, the embedder is deterministic and
versioned, and the training pieces (hard-negative batches, gate calibration) do what they say."""
import numpy as np
import pytest
import torch
from PIL import Image

from search.embedders import (HANDMADE_VERSION, ConfidenceGate, available_versions, get_embedder)
from search.learned import LearnedEmbedder, save_weights
from search.networks import EfficientNetLite0, EmbedderConfig, EmbeddingNet, pretrained_lite0_state
from search.train import calibrate_gate, sample_batch


def _classify(net, array):
    x = (torch.from_numpy(np.asarray(Image.fromarray(array).convert("RGB").resize((224, 224)), np.float32))
         .permute(2, 0, 1)[None] - 127.0) / 128.0
    with torch.no_grad():
        return int(net(x).argmax(1))


def test_shipped_imagenet_weights_load_strictly_and_recognise_photographs():
    from skimage import data

    net = EfficientNetLite0().eval()
    net.load_state_dict(pretrained_lite0_state(), strict=True)  # every tensor finds its place
    assert _classify(net, data.chelsea()) in range(281, 286)  # ImageNet's domestic cat classes
    assert _classify(net, data.coffee()) in (504, 967, 968)  # coffee mug, espresso, cup


def _tiny_embedder(tmp_path, version="tiny-v1", threshold=0.8):
    torch.manual_seed(0)
    net = EmbeddingNet(EmbedderConfig(input_size=32, dim=16))
    gate = ConfidenceGate(threshold=threshold, margin=0.02, calibration={"note": "test"})
    path = save_weights(tmp_path / f"{version}.pt", version=version, net=net, gate=gate,
                        info={"trained_against_generator": "gen-x"})
    return LearnedEmbedder.from_file(path)


def test_learned_embedder_is_deterministic_unit_length_and_keeps_its_version_and_gate(tmp_path):
    emb = _tiny_embedder(tmp_path)
    images = [Image.new("RGB", (80, 40), (200, 30, 30)), Image.new("RGB", (64, 64), "white"),
              Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 50, 3), dtype=np.uint8))]
    a, b = emb.embed_images(images), emb.embed_images(images)
    assert a.shape == (3, 16) and a.dtype == np.float32
    assert np.allclose(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert np.allclose(a[0], emb.embed_image(images[0]), atol=1e-5)  # batch of one = batch of many
    assert emb.version == "tiny-v1" and emb.info["trained_against_generator"] == "gen-x"
    assert (emb.gate.threshold, emb.gate.margin) == (0.8, 0.02)


def test_unknown_version_is_a_clear_error_and_the_handmade_one_always_exists():
    assert HANDMADE_VERSION in available_versions()
    assert get_embedder(HANDMADE_VERSION).version == HANDMADE_VERSION
    with pytest.raises(ValueError, match="unknown embedder version"):
        get_embedder("no-such-version")


def test_shipped_default_embedder_loads_and_embeds_within_its_dimension():
    emb = get_embedder()
    v = emb.embed_image(Image.new("RGB", (64, 64), (30, 60, 200)))
    assert v.shape == (emb.dim,) and abs(float(np.linalg.norm(v)) - 1) < 1e-4


def test_gate_needs_both_score_and_margin():
    gate = ConfidenceGate(threshold=0.8, margin=0.05)
    assert gate.is_confident([0.9, 0.8])
    assert not gate.is_confident([0.9, 0.88])  # a near tie with another item is not confident
    assert not gate.is_confident([0.79, 0.1])
    assert not gate.is_confident([])


def test_calibrated_gate_reaches_the_target_precision_with_the_largest_coverage():
    rng = np.random.default_rng(0)
    n = 400
    correct = rng.random(n) < 0.6
    top1 = np.where(correct, rng.uniform(0.6, 1.0, n), rng.uniform(0.4, 0.8, n))
    top2 = top1 - rng.uniform(0, 0.1, n)
    gate = calibrate_gate(top1, top2, correct, target=0.9)
    picked = np.array([gate.is_confident([a, b]) for a, b in zip(top1, top2)])
    assert picked.sum() >= 20 and correct[picked].mean() >= 0.9
    assert gate.calibration["coverage"] == pytest.approx(picked.mean(), abs=1e-3)
    never = calibrate_gate(top1, top2, np.zeros(n, bool), target=0.9)
    assert not any(never.is_confident([a, b]) for a, b in zip(top1, top2))


def test_training_batches_hold_distinct_items_and_pair_look_alikes():
    rng = np.random.default_rng(0)
    items = np.arange(100)
    hard = {i: np.array([i ^ 1]) for i in items}  # 0<->1, 2<->3, ...
    batch = sample_batch(rng, items, hard, 20)
    assert len(batch) == 20 and len(set(batch.tolist())) == 20
    pairs = sum(1 for i in batch if (i ^ 1) in set(batch.tolist()))
    assert pairs >= 10  # most items come with their look-alike
