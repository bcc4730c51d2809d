"""The learned embedder: the shipped ImageNet weights (``backbones``) are what they claim, the embedder is
deterministic and versioned, and the training pieces (``offline.embedder_training``: hard-negative batches, gate
calibration) do what they say."""
import numpy as np
import pytest
import torch
from PIL import Image

from backbones import EfficientNetLite0, pretrained_lite0_state
from imagegen.generator import StockImageGenerator
from offline.embedder_training import (Pairs, TrainConfig, _build_net, calibrate, calibrate_gate, embed_arrays,
                                       handmade_arrays, loss_plot, sample_batch, train, tune_mix)
from search.embedders import HANDMADE_VERSION, ConfidenceGate, available_versions, get_embedder, query_vectors
from search.learned import LearnedEmbedder, fuse, mix, save_weights
from search.networks import EmbedderConfig, EmbeddingNet


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
    # It was trained against the shipped generator and fuses G2's output with the photo, with a calibrated gate.
    assert emb.info["trained_against_generator"] == StockImageGenerator.default().label
    assert emb.photo_weight > 0 and emb.gate.calibration["precision"] >= 0.9 and emb.gate.threshold < 1


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


def test_a_photo_weighted_version_fuses_g2_with_its_photo_and_the_catalogue_side_is_unchanged(tmp_path):
    torch.manual_seed(0)
    net = EmbeddingNet(EmbedderConfig(input_size=32, dim=16))
    for m in net.modules():  # BatchNorm statistics of real inputs: at init every image embeds alike
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    with torch.no_grad():
        net.train()(torch.rand(16, 3, 32, 32) * 2 - 1)
    net.eval()
    gate = ConfidenceGate(threshold=0.8)
    plain = LearnedEmbedder.from_file(save_weights(tmp_path / "p.pt", version="p", net=net, gate=gate, info={}))
    fused = LearnedEmbedder.from_file(save_weights(tmp_path / "f.pt", version="f", net=net, gate=gate, info={},
                                                   photo_weight=0.5, handmade_weight=0.3))
    assert (plain.photo_weight, fused.photo_weight, fused.info["photo_weight"]) == (0.0, 0.5, 0.5)
    rng = np.random.default_rng(1)
    g2 = [Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)) for _ in range(3)]
    photos = [Image.new("RGB", (64, 64), c) for c in ((200, 30, 30), (20, 20, 220), (250, 250, 250))]
    # The index side: identical vectors with or without a photo weight (a photo weight needs no re-index of them).
    assert np.allclose(fused.embed_images(g2)[:, :16] / np.sqrt(0.7), plain.embed_images(g2), atol=1e-5)
    q = fused.embed_queries(g2, photos)
    assert q.shape == (3, fused.dim) and np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    expected = fuse(plain.embed_images(g2), plain.embed_images(photos), 0.5)  # unit(e(G2) + 0.5 e(photo))
    assert np.allclose(q[:, :16] / np.sqrt(0.7), expected, atol=1e-5)
    assert np.allclose(q[:, 16:], fused.embed_images(g2)[:, 16:], atol=1e-6)  # the hand-made part reads G2 only
    assert np.abs(q - fused.embed_images(g2)).max() > 1e-2  # the photo changes the query
    assert np.allclose(query_vectors(fused, g2, photos), q)
    assert np.allclose(query_vectors(plain, g2, photos), plain.embed_images(g2))  # no photo weight: G2 alone
    assert np.allclose(query_vectors(fused, g2), fused.embed_images(g2))  # no photo: G2 alone
    assert np.allclose(query_vectors(get_embedder(HANDMADE_VERSION), g2, photos),
                       get_embedder(HANDMADE_VERSION).embed_images(g2))
    with pytest.raises(ValueError, match="photos"):
        fused.embed_queries(g2, photos[:2])


def _tiny_pairs(with_photos: bool = True):
    rng = np.random.default_rng(0)
    n_items, size = 12, 64
    colours = rng.integers(0, 256, (n_items, 3))
    stocks = np.full((n_items, size, size, 3), 255, np.uint8)
    for i, c in enumerate(colours):
        stocks[i, 12:52, 16:48] = c
    query_item = np.repeat(np.arange(n_items), 2)
    queries = np.clip(stocks[query_item].astype(int) + rng.integers(-30, 30, (len(query_item), 1, 1, 3)), 0, 255)
    photos = np.roll(stocks[query_item], 4, axis=1)
    return Pairs(queries.astype(np.uint8), query_item, stocks, [f"i{i}" for i in range(n_items)],
                 ["val"] * 4 + ["train"] * 8, [{} for _ in range(n_items)], "gen-x", {"keypoints": 24},
                 photos if with_photos else None)


def test_training_with_photo_queries_validates_the_fused_query_and_tunes_its_weight(tmp_path):
    pairs = _tiny_pairs()
    cfg = TrainConfig(steps=2, batch=8, init="scratch", eval_every=2, photo_query_p=0.5)
    result = train(pairs, cfg, tmp_path, progress=False)
    val = result["best"]["val"]
    assert {"top1", "fused_top1", "photo_top1", "photo_weight"} <= set(val) and val["photo_weight"] == 0.5
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "state.pt").is_file()
    again = train(pairs, cfg, tmp_path, resume=True, progress=False)  # resumed at its last step: nothing to do
    assert again["steps"] == 2 and again["best"] == result["best"]
    loss_plot(result["log"], tmp_path / "loss.png")  # with the photo and fused val curves
    assert (tmp_path / "loss.png").stat().st_size > 1000

    net = _build(cfg, tmp_path / "best.pt")
    weight, photo_weight, rows = tune_mix(pairs, net, (0.0, 0.3), (0.0, 1.0))
    assert len(rows) == 4 and {(r["handmade_weight"], r["photo_weight"]) for r in rows} == {
        (0.0, 0.0), (0.3, 0.0), (0.0, 1.0), (0.3, 1.0)}
    best = max(rows, key=lambda r: (r["top1"], r["top5"]))
    assert (weight, photo_weight) == (best["handmade_weight"], best["photo_weight"])
    # Without photos in the pairs (an old cache), only G2 queries exist: the photo weight stays 0.
    assert {r["photo_weight"] for r in tune_mix(_tiny_pairs(False), net, (0.0,), (0.0, 1.0))[2]} == {0.0}

    calls = []

    def embed_query(generated, photos):
        calls.append(photos is not None)
        return mix(fuse(embed_arrays(net, generated), embed_arrays(net, photos), 1.0), handmade_arrays(generated), 0.3)

    gate, report = calibrate(pairs, lambda a: mix(embed_arrays(net, a), handmade_arrays(a), 0.3), 0.9,
                             embed_query=embed_query)
    assert calls == [True, True]  # the val queries and the junk both went through the product's query
    assert report["val_queries"] == 8 and report["junk_queries"] > 0 and report["junk_confident"] == 0


def _build(cfg, path):
    net, _ = _build_net(cfg)
    net.load_state_dict(torch.load(path, map_location="cpu"))
    return net.eval()
