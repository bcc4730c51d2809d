"""Benchmark the search embedders on CPU: milliseconds per image at batch 1 (a photo job's embed stage) and at
batch 64 (a re-index), for the hand-made descriptor (the baseline, same run) and every shipped learned embedder;
and one job's whole query (``query_ms``: ``search.embedders.query_vectors`` of a G2 output and its preprocessed
photo, two images for a version that fuses them, one otherwise): the embed stage of a photo job.

    python bench/bench_embedding.py [--threads 2] [--reps 30] [--out bench/results/embedding.json]

Inputs are 64 px G2-sized images for batch 1 and 384 px catalogue-sized images for batch 64 (the re-index decodes
full stock images; squaring and resizing are part of what is timed). Timings are medians after a warm-up, measured
alternately with the baseline so that load from other processes hits both alike; the ratio is the figure to quote.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.embedders import HANDMADE_VERSION, available_versions, get_embedder, query_vectors  # noqa: E402


def _images(n: int, size: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        a = np.full((size, size, 3), 255, np.uint8)
        lo, hi = size // 5, size - size // 5
        a[lo:hi, lo:hi] = rng.integers(0, 255, 3, dtype=np.uint8)
        a[lo:hi:6, lo:hi] = rng.integers(0, 255, 3, dtype=np.uint8)  # stripes
        out.append(Image.fromarray(a))
    return out


def _median_ms(fn, reps: int, per: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000 / per)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "embedding.json")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    small, large, photo = _images(1, 64, 0), _images(64, 384, 1), _images(1, 64, 2)
    base = get_embedder(HANDMADE_VERSION)
    rows = []
    for version in available_versions():
        emb = get_embedder(version)
        for _ in range(3):  # warm-up: allocator growth, oneDNN kernel choice
            emb.embed_images(small), base.embed_images(small)
        emb.embed_images(large[:8])
        b1 = _median_ms(lambda: emb.embed_images(small), a.reps, 1)
        b1_base = _median_ms(lambda: base.embed_images(small), a.reps, 1)
        query = _median_ms(lambda: query_vectors(emb, small, photo), a.reps, 1)
        b64 = _median_ms(lambda: emb.embed_images(large), max(3, a.reps // 10), len(large))
        b64_base = _median_ms(lambda: base.embed_images(large), max(3, a.reps // 10), len(large))
        params = sum(p.numel() for p in emb.net.parameters()) if hasattr(emb, "net") else 0
        rows.append({"version": version, "dim": emb.dim, "params": params,
                     "batch1_ms": round(b1, 2), "batch1_ratio_vs_handmade": round(b1 / b1_base, 2),
                     "photo_weight": float(getattr(emb, "photo_weight", 0.0)), "query_ms": round(query, 2),
                     "batch64_ms_per_image": round(b64, 2), "batch64_ratio_vs_handmade": round(b64 / b64_base, 2),
                     "images_per_s_batch64": round(1000 / b64, 1)})
    print(f"{'embedder':<18}{'dim':>5}{'params':>10}{'b1 ms':>9}{'x hcg1':>8}{'query ms':>10}{'b64 ms/img':>12}"
          f"{'x hcg1':>8}{'img/s':>8}")
    for r in rows:
        print(f"{r['version']:<18}{r['dim']:>5}{r['params']:>10,}{r['batch1_ms']:>9.2f}"
              f"{r['batch1_ratio_vs_handmade']:>8.2f}{r['query_ms']:>10.2f}"
              f"{r['batch64_ms_per_image']:>12.2f}"
              f"{r['batch64_ratio_vs_handmade']:>8.2f}{r['images_per_s_batch64']:>8.1f}")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"machine": platform.processor() or platform.machine(), "threads": a.threads,
                                 "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
