"""Upload -> done latency on the embedded default (SQLite, valkey-server, Celery workers, milvus-lite).

Starts a fresh stack in a temporary folder, seeds and indexes a catalogue, then uploads N street photos through the
HTTP API one after another and waits for each job. The baseline, measured in the same run, is the compute the
workers spent on the same jobs (the sum of the per-stage timings the jobs record): the ratio is what queueing,
two task hops, the database and HTTP polling add on top.

    .venv/bin/python bench/bench_pipeline.py --uploads 20 [--items 80] [--out bench/results/pipeline.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import stack_bench  # noqa: E402  (bench/ is on sys.path when a benchmark runs as a script)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20)
    ap.add_argument("--items", type=int, default=80)
    ap.add_argument("--out", default=str(ROOT / "bench/results/pipeline.json"))
    args = ap.parse_args()

    var, valkey_port = stack_bench.django_for_fresh_stack("bench-pipeline-")

    from workers import demo
    from workers.catalogue_seed import street_photo

    with stack_bench.seeded_stack(var, valkey_port, args.items) as stack:
        api = demo.Api(stack.service("web").extra["url"], demo.user_token("bench-seller", role="seller"))
        photos = [street_photo(i % args.items, photo_seed=3000 + i) for i in range(args.uploads + 1)]
        demo.seller_upload(api, *photos[0])  # warm-up: the workers load their models on their first task
        e2e, compute, stages = [], [], {}
        for image, garment in photos[1:]:
            up = demo.seller_upload(api, image, garment)
            assert up.job["state"] == "done", up.job["error"]
            e2e.append(up.latency_s * 1000)
            t = up.job["timings"]
            work = sum(v for k, v in t.items() if k != "total")
            compute.append(work)
            for k, v in t.items():
                stages.setdefault(k, []).append(v)

    p = lambda xs, q: demo.percentile(xs, q)  # noqa: E731
    result = {
        "uploads": args.uploads, "catalogue_items": args.items,
        "upload_to_done_ms": {"p50": p(e2e, 50), "p95": p(e2e, 95), "max": max(e2e)},
        "worker_compute_ms": {"p50": p(compute, 50), "p95": p(compute, 95)},
        "overhead_ratio_p50": p(e2e, 50) / p(compute, 50),
        "stage_ms_p50": {k: statistics.median(v) for k, v in stages.items()},
        "machine": {"cpus": os.cpu_count()},
    }
    print(f"\nupload -> done over {args.uploads} uploads (catalogue {args.items} items, embedded default, CPU)")
    print(f"{'':28}{'p50 ms':>10}{'p95 ms':>10}")
    print(f"{'upload -> done (HTTP)':28}{result['upload_to_done_ms']['p50']:>10.0f}{result['upload_to_done_ms']['p95']:>10.0f}")
    print(f"{'worker compute (baseline)':28}{result['worker_compute_ms']['p50']:>10.0f}{result['worker_compute_ms']['p95']:>10.0f}")
    print(f"ratio end-to-end / compute (p50): {result['overhead_ratio_p50']:.2f}x")
    print("stage p50 ms: " + ", ".join(f"{k} {v:.1f}" for k, v in result["stage_ms_p50"].items()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
