"""Upload -> done latency per hop, and micro-batching, on the embedded default (SQLite, valkey, Celery, milvus-lite).

Starts a fresh stack in a temporary folder, seeds and indexes a catalogue, then for each batch size (the gpu worker
is restarted with GPU_BATCH_MAX = that size):

- **low load**: N street photos uploaded through the HTTP API one after another, each waited for by a long poll
  (`GET /api/jobs/{id}/?wait=`); then the same N with the client polling every `--poll` seconds instead. Per hop (marketplace.jobs.hops: the marks each stage writes on the job row, plus the
  client's own send / 202 / saw-done times) p50 and p95, and the ratio of upload -> done to the workers' compute of
  the same jobs (the sum of the stage timings: decode, preprocess, stage1, stage2, embed, search). Both the client's
  upload -> done (includes its polling) and upload -> recorded finish (the row's finished_at) are reported.
- `--search-here 1,0`: each configuration also with the search in the index worker (SEARCH_IN_MODEL_WORKER=0,
  the hand-off by a second task) instead of in the model worker: the same-run baseline of that change.
- **under load**: M uploads sent by C concurrent clients; photos/s from the first send to the last finished_at,
  against the ideal cores / per-photo compute (the median compute of every low-load photo of this run: each of
  them ran alone, in a batch of one, whatever GPU_BATCH_MAX was), the CPU each service used per photo meanwhile,
  and the batch sizes the gpu worker actually formed.

    .venv/bin/python bench/bench_pipeline.py --uploads 20 --batch 1,4,8,16 --load 100 --concurrency 20 \
        [--poll 0.005] [--separate 2] [--out bench/results/pipeline.json]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import stack_bench  # noqa: E402  (bench/ is on sys.path when a benchmark runs as a script)
from django.apps import apps  # noqa: E402

from devtools import demo  # noqa: E402
from devtools.peers import Postgres, peers_env  # noqa: E402
from devtools.stack import start_worker  # noqa: E402
from marketplace.jobs import hops  # noqa: E402

COMPUTE = ("decode", "preprocess", "stage1", "stage2", "embed", "search")


def pct(xs, q):
    return demo.percentile(list(xs), q)


def restart_gpu_workers(stack, env: dict) -> None:
    """The model workers again with `env` added (a batch size), warmed up by one upload before the clock starts."""
    names = set(stack.gpu_worker_names())
    for i, svc in enumerate(stack.services):
        if svc.name in names:
            svc.stop()
            stack.services[i] = start_worker(svc.name, "gpu", {**stack.env(), "WORKER_WARMUP": "generator", **env},
                                             stack.log_dir)


def job_row(job_id: int):
    return apps.get_model("jobs", "ImageJob").objects.get(pk=job_id)


def low_load(api, photos, poll: float | None, stack=None, extra_groups: dict | None = None) -> dict:
    """Sequential uploads; per job: client times, row marks, stage timings. `poll`: the client polls the job at that
    interval; None: it long-polls (`GET /api/jobs/{id}/?wait=`, answered when the job ends)."""
    rows = []
    meter = stack_bench.CpuMeter(stack, extra_groups) if stack is not None else None
    for image, garment in photos:
        status, listing = api.post_json("/api/listings/", {"title": "bench", "garment_type": garment})
        assert status == 201, listing
        sent = time.time()
        status, accepted = api.post_image(f"/api/listings/{listing['id']}/photos/", image)
        answered = time.time()
        assert status == 202, accepted
        job = api.wait_job(accepted["job"]["url"], poll=poll)
        seen = time.time()
        assert job["state"] == "done", job["error"]
        row = job_row(job["id"])
        finished = row.finished_at.timestamp()
        per_hop = {"HTTP upload request (send -> 202)": (answered - sent) * 1000,
                   "upload received -> row created": (row.created_at.timestamp() - sent) * 1000,
                   **hops.hop_ms(row.marks, row.created_at.timestamp(), finished),
                   "client learns of the end (poll or long poll)": (seen - finished) * 1000}
        rows.append({"e2e_client_ms": (seen - sent) * 1000, "e2e_recorded_ms": (finished - sent) * 1000,
                     "compute_ms": sum(float(row.timings.get(k, 0)) for k in COMPUTE), "hops": per_hop,
                     "timings": row.timings, "batch_size": row.marks.get(hops.BATCH_SIZE)})
    summary = summarise_low(rows)
    if meter is not None:  # includes creating each listing (one small request a photo)
        summary["cpu_ms_per_photo"] = {k: v * 1000 / len(rows) for k, v in meter.stop()["cpu_s"].items()}
    return summary


def summarise_low(rows: list[dict]) -> dict:
    e2e = [r["e2e_client_ms"] for r in rows]
    rec = [r["e2e_recorded_ms"] for r in rows]
    comp = [r["compute_ms"] for r in rows]
    names = list(dict.fromkeys(k for r in rows for k in r["hops"]))
    stages = list(dict.fromkeys(k for r in rows for k in r["timings"]))
    return {
        "uploads": len(rows),
        "upload_to_done_ms": {"p50": pct(e2e, 50), "p95": pct(e2e, 95), "max": max(e2e)},
        "upload_to_recorded_finish_ms": {"p50": pct(rec, 50), "p95": pct(rec, 95)},
        "worker_compute_ms": {"p50": pct(comp, 50), "p95": pct(comp, 95)},
        "compute_ms_samples": comp,
        "ratio_p50": pct(e2e, 50) / pct(comp, 50), "ratio_p95": pct(e2e, 95) / pct(comp, 95),
        "ratio_recorded_p50": pct(rec, 50) / pct(comp, 50), "ratio_recorded_p95": pct(rec, 95) / pct(comp, 95),
        "hops_ms": {n: {"p50": pct([r["hops"][n] for r in rows if n in r["hops"]], 50),
                        "p95": pct([r["hops"][n] for r in rows if n in r["hops"]], 95)} for n in names},
        "stage_ms_p50": {k: statistics.median(float(r["timings"][k]) for r in rows if k in r["timings"])
                         for k in stages},
        "batch_sizes": sorted({r["batch_size"] for r in rows if r["batch_size"]}),
    }


def under_load(api, photos, uploads: int, concurrency: int, stack, extra_groups: dict) -> dict:
    """`uploads` photos from `concurrency` clients at once; waits on the job rows (no HTTP polling load). Also where
    the cores went meanwhile: CPU milliseconds per photo for each service of the stack (stack_bench.CpuMeter)."""
    ImageJob = apps.get_model("jobs", "ImageJob")
    listings = [api.post_json("/api/listings/", {"title": f"load {n}", "garment_type": "top"})[1]["id"]
                for n in range(concurrency)]
    job_ids, lock = [], threading.Lock()

    def one(n: int):
        status, body = api.post_image(f"/api/listings/{listings[n % concurrency]}/photos/", photos[n % len(photos)][0])
        assert status == 202, body
        with lock:
            job_ids.append(body["job"]["id"])

    meter = stack_bench.CpuMeter(stack, extra_groups)
    t0 = time.time()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(uploads)))
    deadline = time.time() + 600
    # Waiting on the id range, not on the list: a query with hundreds of ids every 50 ms cost this process and the
    # database 1.5 to 4 ms of CPU per photo, taken from the cores being measured (only this run makes jobs now).
    unfinished = ImageJob.objects.filter(pk__gte=min(job_ids), pk__lte=max(job_ids)) \
        .exclude(state__in=["done", "failed"])
    while unfinished.exists():
        assert time.time() < deadline, "jobs did not finish"
        time.sleep(0.05)
    usage = meter.stop()
    jobs = list(ImageJob.objects.filter(pk__in=job_ids))
    last = max(j.finished_at.timestamp() for j in jobs)
    sizes = [j.marks.get(hops.BATCH_SIZE, 0) for j in jobs]
    e2e = [(j.finished_at - j.created_at).total_seconds() * 1000 for j in jobs]
    comp = [sum(float(j.timings.get(k, 0)) for k in COMPUTE) for j in jobs]
    return {"uploads": uploads, "concurrency": concurrency, "failed": sum(j.state != "done" for j in jobs),
            "elapsed_s": last - t0, "photos_per_s": uploads / (last - t0),
            "created_to_finished_ms": {"p50": pct(e2e, 50), "p95": pct(e2e, 95)},
            "compute_per_photo_ms_p50": pct(comp, 50),
            "cpu_ms_per_photo": {k: v * 1000 / uploads for k, v in usage["cpu_s"].items()},
            "machine_busy_fraction": usage["machine_busy_fraction"],
            "batch_size": {"mean": statistics.mean(sizes), "max": max(sizes),
                           "histogram": {str(k): sizes.count(k) for k in sorted(set(sizes))}}}


def _polling_line(pl: dict, poll_s: float) -> str:
    """The low-load uploads again, with a client that polls instead of waiting on the long poll."""
    done = pl["upload_to_done_ms"]
    return (f"same uploads, client polling every {poll_s * 1000:.0f} ms: upload -> done p50 {done['p50']:.1f} ms "
            f"p95 {done['p95']:.1f} ms, compute p50 {pl['worker_compute_ms']['p50']:.1f} -> {pl['ratio_p50']:.2f}x "
            f"p50 {pl['ratio_p95']:.2f}x p95")


def _load_line(ld: dict, ideal: float) -> str:
    """Throughput under load against the ideal (cores / per-photo compute)."""
    lat = ld["created_to_finished_ms"]
    return (f"under load: {ld['uploads']} uploads at {ld['concurrency']} concurrent -> {ld['photos_per_s']:.1f} "
            f"photos/s ({ld['elapsed_s']:.1f} s), ideal {ideal:.1f} -> {ld['photos_per_s'] / ideal * 100:.0f} %; "
            f"batch sizes {ld['batch_size']['histogram']}; created -> finished p50 {lat['p50']:.0f} ms "
            f"p95 {lat['p95']:.0f} ms; failed {ld['failed']}")


def table(result: dict) -> str:
    out = []
    for run in result["runs"]:
        low = run["low_load"]
        out.append(f"\n== GPU_BATCH_MAX={run['batch_max']}, TORCH_THREADS={run['torch_threads']}, "
                   f"search in the {'model' if run.get('search_here', True) else 'index'} worker: "
                   f"{low['uploads']} sequential uploads "
                   f"(batches formed: {low['batch_sizes']}) ==")
        out.append(f"{'hop':44}{'p50 ms':>9}{'p95 ms':>9}")
        for name, v in low["hops_ms"].items():
            out.append(f"{name:44}{v['p50']:>9.1f}{v['p95']:>9.1f}")
        for label, key in (("upload -> done (client, long poll)", "upload_to_done_ms"),
                           ("upload -> recorded finish", "upload_to_recorded_finish_ms"),
                           ("workers' compute (floor)", "worker_compute_ms")):
            out.append(f"{label:44}{low[key]['p50']:>9.1f}{low[key]['p95']:>9.1f}")
        out.append(f"ratio to compute: client p50 {low['ratio_p50']:.2f}x p95 {low['ratio_p95']:.2f}x; "
                   f"recorded p50 {low['ratio_recorded_p50']:.2f}x p95 {low['ratio_recorded_p95']:.2f}x")
        out.append("stage p50 ms: " + ", ".join(f"{k} {v:.1f}" for k, v in low["stage_ms_p50"].items()))
        if low.get("cpu_ms_per_photo"):
            out.append("CPU ms per photo (long poll client): " + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(low["cpu_ms_per_photo"].items(), key=lambda kv: -kv[1])))
        if run.get("low_load_polling"):
            out.append(_polling_line(run["low_load_polling"], result["poll_s"]))
        if run.get("under_load"):
            ld = run["under_load"]
            out.append(_load_line(ld, result["ideal_photos_per_s"]))
            if ld.get("cpu_ms_per_photo"):
                cpu = ld["cpu_ms_per_photo"]
                out.append(f"  where the cores went (CPU ms per photo; machine busy "
                           f"{ld['machine_busy_fraction'] * 100:.0f} % of {result['machine']['cpus']} cores): "
                           + ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
                           + f"; total {sum(cpu.values()):.1f}")
    out.append(f"\n== summary (ideal {result['ideal_photos_per_s']:.1f} photos/s = {result['machine']['cpus']} cores / "
               f"{result['per_photo_compute_ms']:.1f} ms, the median compute of all low-load photos) ==")
    out.append(f"{'batch':>6}{'threads':>8}{'search in':>10}{'e2e p50':>9}{'e2e p95':>9}{'compute p50':>12}{'x p50':>7}{'x p95':>7}"
               f"{'rec x p50':>10}{'photos/s':>9}{'% ideal':>8}{'mean batch':>11}")
    for run in result["runs"]:
        low, ld = run["low_load"], run.get("under_load") or {}
        out.append(f"{run['batch_max']:>6}{run['torch_threads']!s:>8}"
                   f"{'model' if run.get('search_here', True) else 'index':>10}{low['upload_to_done_ms']['p50']:>9.0f}"
                   f"{low['upload_to_done_ms']['p95']:>9.0f}{low['worker_compute_ms']['p50']:>12.0f}"
                   f"{low['ratio_p50']:>7.2f}{low['ratio_p95']:>7.2f}{low['ratio_recorded_p50']:>10.2f}"
                   f"{ld.get('photos_per_s', float('nan')):>9.1f}"
                   f"{ld.get('photos_per_s', float('nan')) / result['ideal_photos_per_s'] * 100:>8.0f}"
                   f"{(ld.get('batch_size') or {}).get('mean', float('nan')):>11.1f}")
    return "\n".join(out)


def run_all(args, env: dict, stack_kwargs: dict, extra_groups: dict) -> dict:
    """Every configuration of `args` on one seeded stack."""
    var, valkey_port = stack_bench.django_for_fresh_stack("bench-pipeline-")

    # lazy: these import Django models, which exist only once django_for_fresh_stack() has set Django up
    from devtools import accounts, catalogue_seed

    result = {"label": args.label, "catalogue_items": args.items, "poll_s": args.poll, "separate": args.separate,
              "peers": "postgresql+redis" if args.peers else "embedded (sqlite, valkey)",
              "machine": {"cpus": os.cpu_count(), "load_before": os.getloadavg()}, "runs": []}
    with stack_bench.seeded_stack(var, valkey_port, args.items, extra_env=env, **stack_kwargs) as stack:
        result["gpu_workers"] = len(stack.gpu_worker_names())
        api = demo.Api(stack.service("web").extra["url"], accounts.user_token("bench-seller", role="seller"))
        photos = [catalogue_seed.street_photo(i % args.items, photo_seed=3000 + i)
                  for i in range(max(args.uploads, 40) + 1)]
        configs = [(int(b), int(t), int(h)) for h in args.search_here.split(",") for t in args.torch_threads.split(",")
                   for b in args.batch.split(",")]
        for n, threads, here in configs:
            restart_gpu_workers(stack, {"GPU_BATCH_MAX": str(n), "TORCH_THREADS": str(threads),
                                        "SEARCH_IN_MODEL_WORKER": str(here)})
            # Warm-up: a model worker's first task loads what its warm-up thread has not; uploads at once reach each.
            with ThreadPoolExecutor(len(stack.gpu_worker_names())) as pool:
                list(pool.map(lambda _: demo.seller_upload(api, *photos[0]), range(2 * len(stack.gpu_worker_names()))))
            run = {"batch_max": n, "torch_threads": threads or "default", "search_here": bool(here),
                   "low_load": low_load(api, photos[1:args.uploads + 1], None, stack, extra_groups)}
            if args.poll:  # the same uploads, the client polling instead of long-polling
                run["low_load_polling"] = low_load(api, photos[1:args.uploads + 1], args.poll)
                run["low_load_polling"].pop("compute_ms_samples")
            if args.load:
                run["under_load"] = under_load(api, photos[1:], args.load, args.concurrency, stack, extra_groups)
            result["runs"].append(run)
    # One per-photo compute for the whole run: every low-load photo ran alone whatever the batch size, so they all
    # measure the same thing, and their pooled median is steadier than one configuration's (30 photos).
    pooled = [ms for run in result["runs"] for ms in run["low_load"].pop("compute_ms_samples")]
    result["per_photo_compute_ms"] = statistics.median(pooled)
    result["ideal_photos_per_s"] = os.cpu_count() * 1000 / result["per_photo_compute_ms"]
    result["machine"]["load_after"] = os.getloadavg()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=20, help="sequential uploads per batch size")
    ap.add_argument("--batch", default="1,8", help="GPU_BATCH_MAX values to run, e.g. 1,4,8,16")
    ap.add_argument("--torch-threads", default="1", help="the gpu worker's TORCH_THREADS values to run each batch size "
                    "with (0: torch's default, a thread per core)")
    ap.add_argument("--search-here", default="1", help="SEARCH_IN_MODEL_WORKER values to run each configuration "
                    "with: 1 the model worker searches (the default), 0 the index worker does (e.g. 1,0)")
    ap.add_argument("--load", type=int, default=400, help="uploads under load per batch size (0: skip)")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--poll", type=float, default=0.005, help="also run the low-load uploads with the client polling "
                    "at this interval (s) instead of long-polling (0: long poll only)")
    ap.add_argument("--items", type=int, default=80)
    ap.add_argument("--separate", type=int, default=0, metavar="N",
                    help="PREPROCESS_SEPARATE with N cpu worker processes that preprocess for the gpu worker")
    ap.add_argument("--gpu-workers", type=int, default=None, metavar="N",
                    help="model worker processes (default: the Stack's, GPU_WORKERS)")
    ap.add_argument("--peers", action="store_true", help="on PostgreSQL 15 + Redis 7 (devtools/peers.py) instead of "
                    "SQLite + valkey")
    ap.add_argument("--label", default="")
    ap.add_argument("--out", default=str(ROOT / "bench/results/pipeline.json"))
    args = ap.parse_args()

    env = {"THROTTLE_UPLOAD": "100000/min", **({"PREPROCESS_SEPARATE": "1"} if args.separate else {})}
    os.environ.update(env)  # before Django reads its settings: the stack's processes inherit them from here
    with contextlib.ExitStack() as peers:
        stack_kwargs, extra_groups = {}, {}
        if args.peers:
            pg = peers.enter_context(Postgres())
            os.environ.update(peers_env(pg, secret_key="bench-only-secret-key"))
            stack_kwargs["broker"] = "redis"
            extra_groups["postgres"] = "postgres"  # by command name: its backends are not in the starter's group
        if args.separate:
            stack_kwargs["cpu_workers"] = args.separate
        if args.gpu_workers:
            stack_kwargs["gpu_workers"] = args.gpu_workers
        result = run_all(args, env, stack_kwargs, extra_groups)
    print(table(result))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
