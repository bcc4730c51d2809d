"""Benchmark the two-stage GAN: training throughput and generation latency, each next to a bare-PyTorch baseline.

    python bench/bench_imagegen.py                 # 64 and 128 px, CPU (and CUDA if present), ~1-2 min on 2 cores
    python bench/bench_imagegen.py --quick         # fewer repetitions, smaller training batch
    python bench/bench_imagegen.py --out bench/results/imagegen.json --threads 2
    python bench/bench_imagegen.py --arch v2       # one architecture only (default: v1 and v2, each row says which)

What is measured (per architecture ``--arch``, ``GANConfig.for_arch(arch, image_size=S)``; v2 runs every image
as garment type "top", its FiLM conditioning included in the timings):

* train: one full ``imagegen.offline.train.Trainer.train_step`` (G1 and G2 forward, D_real / D_assoc1 / D_assoc2 updates
  on the PLDT association batch, G1 and G2 updates) in pairs/s, and as the baseline the same G1 + G2 doing one
  plain forward + L2 loss + backward, no discriminators, no optimiser, no framework code. ``ratio`` = full step
  time / baseline time: what the GAN machinery costs on top of the generators alone (~3 forward/backward passes of
  the discriminators over 1-3x the batch, plus Adam over ~10 M parameters).
* generate: ``StockImageGenerator.forward_preprocessed`` (G1 -> combine -> G2, eval, inference mode) in ms/image at
  batch 1 and 16, with the baseline a bare ``g2(cat(x, g1(x)))`` under ``torch.inference_mode``; ratio = wrapper
  overhead. Preprocessing (mediapipe) is not included: it is benchmarked with ``imagegen.preprocess``.

* recipes (``--recipes``, issue #24): the training step of each efficiency or quality change, timed alternately
  with the same-run baseline (today's recipe: v2 + feature matching, float32) at ``--recipe-size``: bf16 autocast
  on the CPU, the warping v3 generators, feature matching and the perceptual term on and off, a thinner G, and the
  first leg of progressive training (the 128 px networks on 64 px images). ``speed-up`` = baseline time / recipe
  time; a row is worth keeping only where it pays in quality too (the ablation in ``docs/generator_v3``).

Timings are medians over repetitions after a warm-up; CUDA timings synchronise the device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing the package

from imagegen.generator import StockImageGenerator  # noqa: E402
from imagegen.networks import GANConfig, build_generators, count_params  # noqa: E402
from imagegen.offline.train import TrainConfig, Trainer  # noqa: E402


def _timeit_pair(full, bare, reps: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """Median seconds per call of ``full`` and of ``bare``, timed alternately so that load from other processes on
    a shared machine hits both about equally (the ratio is the number that matters)."""
    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t0

    for _ in range(warmup):  # first calls pay for allocator growth and oneDNN / cuDNN kernel selection
        timed(full), timed(bare)
    a, b = [], []
    for _ in range(reps):
        a.append(timed(full))
        b.append(timed(bare))
    return statistics.median(a), statistics.median(b)


def _batch(n: int, size: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    photo = (torch.rand(n, 3, size, size, generator=g) * 2 - 1).to(device)
    stock = (torch.rand(n, 3, size, size, generator=g) * 2 - 1).to(device)
    items = torch.arange(n) % max(1, n // 2)  # two photos per item, like real street data
    return photo, stock, items


def bench_train(size: int, batch: int, reps: int, device: torch.device, arch: str = "v1") -> dict:
    torch.manual_seed(0)
    cfg = TrainConfig(image_size=size, batch_size=batch, device=str(device), amp=device.type == "cuda",
                      channels_last=device.type == "cuda", arch=arch)
    gan_cfg = cfg.gan_config()
    trainer = Trainer(gan_cfg, cfg, device)
    photo, stock, items = _batch(batch, size, device)
    garments = ["top"] * batch
    gi = gan_cfg.garment_indices(garments, batch, device)  # None for v1
    g1, g2 = build_generators(gan_cfg)
    g1.to(device).train(), g2.to(device).train()

    def bare():
        out1 = g1(photo, gi)
        out2 = g2(torch.cat([photo, out1.detach()], 1), gi)
        (F.mse_loss(out1, stock) + F.mse_loss(out2, stock)).backward()

    full, base = _timeit_pair(lambda: trainer.train_step(photo, stock, items, garments), bare, reps, 3, device)
    return {"task": "train", "arch": arch, "size": size, "batch": batch, "device": device.type,
            "full_ms_per_step": full * 1000, "full_pairs_per_s": batch / full,
            "baseline_ms_per_step": base * 1000, "baseline_pairs_per_s": batch / base, "ratio": full / base,
            "amp_bf16": cfg.amp and device.type == "cuda"}


# (label, TrainConfig overrides): every row is timed against RECIPES[0] in the same run.
FLOW = dict(arch="v3", warp_weight=10.0, tv_weight=1.0)
RECIPES: tuple[tuple[str, dict], ...] = (
    ("v2 + FM, fp32 (today's recipe)", dict(arch="v2", fm_weight=10.0)),
    ("v2 + FM, bf16", dict(arch="v2", fm_weight=10.0, amp=True)),
    ("v3 + FM, fp32", dict(FLOW, fm_weight=10.0)),
    ("v3 + FM, bf16 (the run's recipe)", dict(FLOW, fm_weight=10.0, amp=True)),
    ("v3, bf16, no FM", dict(FLOW, amp=True)),
    ("v3 + FM + perceptual, bf16", dict(FLOW, fm_weight=10.0, perceptual_weight=0.5, amp=True)),
    ("v3 + FM, bf16, width 24", dict(FLOW, fm_weight=10.0, amp=True, base_width=24)),
    ("v3 + FM, bf16, 128 px nets on 64 px (leg 1)", dict(FLOW, fm_weight=10.0, amp=True, half_size=True)),
)


def bench_recipes(size: int, batch: int, reps: int, device: torch.device) -> list[dict]:
    """Each ``RECIPES`` training step against the first one's, alternately timed (``_timeit_pair``)."""
    def step_fn(overrides: dict):
        overrides = dict(overrides)
        s = size // 2 if overrides.pop("half_size", False) else size
        levels = (size.bit_length() - 2) if s != size else 0  # the full-size networks' depth
        torch.manual_seed(0)
        cfg = TrainConfig(image_size=s, batch_size=batch, device=str(device), levels=levels, **overrides)
        trainer = Trainer(cfg.gan_config(), cfg, device)
        photo, stock, items = _batch(batch, s, device)
        garments = ["top", "bottom", "whole", "top"] * (batch // 4) + ["top"] * (batch % 4)
        return lambda: trainer.train_step(photo, stock, items, garments)

    baseline = step_fn(RECIPES[0][1])
    rows = []
    for label, overrides in RECIPES:
        full, base = _timeit_pair(step_fn(overrides), baseline, reps, 2, device)
        rows.append({"task": "recipe", "recipe": label, "size": size, "batch": batch, "device": device.type,
                     "ms_per_step": full * 1000, "pairs_per_s": batch / full, "baseline_ms_per_step": base * 1000,
                     "speedup": base / full})
        print(f"{label:<48} {full * 1000:7.0f} ms/step {batch / full:6.1f} pairs/s | baseline {base * 1000:6.0f} ms"
              f" | speed-up {base / full:5.2f}x", flush=True)
    return rows


def bench_generate(size: int, batch: int, reps: int, device: torch.device, arch: str = "v1") -> dict:
    gen = StockImageGenerator.untrained(image_size=size, seed=0, device=device, arch=arch)
    photo, _, _ = _batch(batch, size, device)
    g1, g2 = gen.g1, gen.g2
    gi = gen.config.garment_indices("top", batch, device)  # None for v1

    def bare():
        with torch.inference_mode():
            out1 = g1(photo, gi)
            g2(torch.cat([photo, out1], 1), gi)

    full, base = _timeit_pair(lambda: gen.forward_preprocessed(photo, "top"), bare, reps, 3, device)
    return {"task": "generate", "arch": arch, "size": size, "batch": batch, "device": device.type,
            "full_ms_per_image": full * 1000 / batch, "baseline_ms_per_image": base * 1000 / batch,
            "ratio": full / base}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("bench/results/imagegen.json"))
    p.add_argument("--quick", action="store_true", help="fewer repetitions and a batch of 8 for training")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    p.add_argument("--recipes", action="store_true",
                   help="only the training recipes against today's (issue #24), at --recipe-size")
    p.add_argument("--recipe-size", type=int, default=128)
    p.add_argument("--arch", nargs="+", choices=["v1", "v2", "v3"], default=["v1", "v2", "v3"],
                   help="architectures to measure (imagegen.networks.ARCHS), each at every size")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-cuda", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    devices = [torch.device("cpu")]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append(torch.device("cuda"))
    train_batch = 8 if args.quick else 16
    rows = []
    t_start = time.perf_counter()
    if args.recipes:
        devices = []  # the recipes alone
        rows += bench_recipes(args.recipe_size, train_batch, 2 if args.quick else 4, torch.device("cpu"))
    for device in devices:
        on_gpu = device.type == "cuda"
        for size in args.sizes:
            big = size >= 128 and not on_gpu
            train_reps = (2 if args.quick else 3) if big else (3 if args.quick else 5)
            train_reps = 20 if on_gpu else train_reps
            gen_reps = (5 if args.quick else 10) if big else (10 if args.quick else 20)
            gen_reps = 50 if on_gpu else gen_reps
            for arch in args.arch:
                for row in (bench_train(size, 64 if on_gpu else train_batch, train_reps, device, arch),
                            bench_generate(size, 1, gen_reps, device, arch),
                            bench_generate(size, 16, max(3, gen_reps // 4), device, arch)):
                    rows.append(row)
                    print(_fmt(row), flush=True)

    g1, g2 = build_generators(GANConfig())
    env = {"torch": torch.__version__, "python": platform.python_version(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "cuda": torch.cuda.get_device_name() if len(devices) > 1 else None,
           "default_params_64px": count_params(g1) + count_params(g2), "quick": args.quick, "archs": args.arch,
           "recipes": args.recipes,
           "elapsed_s": round(time.perf_counter() - t_start, 1)}
    print(f"\n{len(rows)} measurements in {env['elapsed_s']} s; torch {env['torch']}, {env['torch_threads']} CPU threads"
          f"{', ' + env['cuda'] if env['cuda'] else ''}; default 64 px generators: {env['default_params_64px']:,} params")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"env": env, "results": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


_HEADER_PRINTED = False


def _fmt(row: dict) -> str:
    global _HEADER_PRINTED
    head = ""
    if not _HEADER_PRINTED:
        _HEADER_PRINTED = True
        head = (f"{'task':<9}{'arch':<5}{'dev':<5}{'size':>5}{'batch':>6} | {'full':>22} | "
                f"{'bare PyTorch baseline':>22} | {'ratio':>6}\n" + "-" * 91 + "\n")
    if row["task"] == "train":
        full = f"{row['full_pairs_per_s']:7.1f} pairs/s {row['full_ms_per_step']:6.0f}ms"
        base = f"{row['baseline_pairs_per_s']:7.1f} pairs/s {row['baseline_ms_per_step']:6.0f}ms"
    else:
        full = f"{row['full_ms_per_image']:10.2f} ms/image"
        base = f"{row['baseline_ms_per_image']:10.2f} ms/image"
    return (head + f"{row['task']:<9}{row.get('arch', 'v1'):<5}{row['device']:<5}{row['size']:>5}{row['batch']:>6} | "
            f"{full:>22} | {base:>22} | {row['ratio']:6.2f}x")


if __name__ == "__main__":
    sys.exit(main())
