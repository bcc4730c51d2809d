"""200 photo uploads, 20 at a time, against the running embedded stack (web + valkey + workers): issue #12.

Counts what must be zero (5xx answers, uploads accepted but whose job never finished = lost, a photo with more than
one job or a job with duplicate suggestions = duplicated) and times the upload request itself (p50/p95: the answer
the seller waits for, not the job), plus accepted photos per second and how long the workers took to finish them.

Where a request's time goes: each answer's `Server-Timing` header (marketplace/request_timing.py) gives the phases
inside Django (validate, db, publish, app = parsing/auth/serializing, total); the client's time minus `total` is the
wait outside Django (accept queue, a free thread, the CPU). p50/p95 of each are printed and stored.

`--peers`: on the production peers instead of the embedded default: PostgreSQL 15 + Redis 7 (Debian's binaries,
devtools/peers.py) and two model workers. `--web runserver|gunicorn` picks the web server (default: the Stack's).

    .venv/bin/python bench/bench_uploads.py [--uploads 200] [--concurrency 20] [--peers] [--web gunicorn]
        [--label after] [--out bench/results/uploads.json]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import stack_bench  # noqa: E402  (bench/ is on sys.path when a benchmark runs as a script)
from django.apps import apps  # noqa: E402
from django.db import connections  # noqa: E402
from django.db.models import Count  # noqa: E402

from devtools import demo  # noqa: E402
from devtools.peers import Postgres, peers_env  # noqa: E402
from marketplace.request_timing import parse_header  # noqa: E402

PHASES = ["validate", "file", "insert", "db", "publish", "app", "total", "outside"]


def post_image_timed(base: str, token: str, path: str, image: bytes) -> tuple[int, dict, dict]:
    """The multipart upload of demo.Api.post_image, also returning the answer's Server-Timing as {phase: ms}."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="photo.jpg"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode() + image + f"\r\n--{boundary}--\r\n".encode())
    req = urllib.request.Request(base + path, data=body, method="POST")
    req.add_header("Authorization", f"Token {token}")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null"), parse_header(resp.headers.get("Server-Timing", ""))
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null"), parse_header(err.headers.get("Server-Timing", ""))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--label", default="", help="a note stored with the result (e.g. before/after)")
    ap.add_argument("--peers", action="store_true", help="PostgreSQL + Redis and two model workers")
    ap.add_argument("--web", choices=["runserver", "gunicorn"], default=None, help="the web server (default: Stack's)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/uploads.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()

    pg = None
    if args.peers:
        pg = Postgres().start()  # durable (fsync on), as in production
        os.environ.update(peers_env(pg, secret_key="bench-only-secret-key"))
    try:
        run(args, load_before)
    finally:
        if pg is not None:
            connections.close_all()
            pg.stop()


def run(args, load_before) -> None:
    var, valkey_port = stack_bench.django_for_fresh_stack("bench-uploads-")
    # lazy: these import Django models, which exist only once django_for_fresh_stack() has set Django up
    from devtools import accounts, catalogue_seed

    ImageJob = apps.get_model("jobs", "ImageJob")
    ListingPhoto, Suggestion = apps.get_model("listings", "ListingPhoto"), apps.get_model("listings", "Suggestion")
    photos = [catalogue_seed.street_photo(i % args.items, photo_seed=5000 + i)[0] for i in range(args.concurrency)]
    extra = {"THROTTLE_UPLOAD": "100000/min"}  # one seller sends all of them: the per-user limit is not measured here
    stack_kwargs = {"extra_env": extra}
    if args.peers:
        stack_kwargs.update(broker="redis", gpu_workers=2)
    if args.web:
        stack_kwargs["web_server"] = args.web
    with stack_bench.seeded_stack(var, valkey_port, args.items, **stack_kwargs) as stack:
        base, token = stack.service("web").extra["url"], accounts.user_token("bench-seller", role="seller")
        web_name = stack.service("web").extra.get("server", "runserver")
        api = demo.Api(base, token)
        listing_ids = [api.post_json("/api/listings/", {"title": f"bench {n}", "garment_type": "top"})[1]["id"]
                       for n in range(args.concurrency)]
        demo.seller_upload(api, photos[0], "top")  # warm-up: the workers load their models on their first task
        warm_jobs = set(ImageJob.objects.values_list("pk", flat=True))

        def one(n: int):
            t0 = time.perf_counter()
            status, body, timing = post_image_timed(base, token, f"/api/listings/{listing_ids[n % len(listing_ids)]}"
                                                    "/photos/", photos[n % len(photos)])
            ms = (time.perf_counter() - t0) * 1000
            if "total" in timing:
                timing["outside"] = ms - timing["total"]
            timings.append(timing)
            return status, body, ms

        timings: list[dict] = []

        t_start = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            answers = list(pool.map(one, range(args.uploads)))
        t_sent = time.perf_counter()
        accepted = [body for status, body, _ in answers if status == 202]
        job_ids = {body["job"]["id"] for body in accepted}
        deadline = time.time() + 300
        while time.time() < deadline:
            if ImageJob.objects.filter(pk__in=job_ids, state__in=["done", "failed"]).count() == len(job_ids):
                break
            time.sleep(0.25)
        t_done = time.perf_counter()

        finished = dict(ImageJob.objects.filter(pk__in=job_ids).values_list("pk", "state"))
        photo_ids = {body["id"] for body in accepted}
        jobs_per_photo = (ImageJob.objects.filter(listing_photo_id__in=photo_ids).values("listing_photo_id")
                          .annotate(n=Count("pk")).filter(n__gt=1).count())
        dup_suggestions = (Suggestion.objects.filter(photo_id__in=photo_ids).values("photo_id", "stock_image_id")
                           .annotate(n=Count("pk")).filter(n__gt=1).count())
        stored = ListingPhoto.objects.filter(listing_id__in=listing_ids).count()
        new_jobs = ImageJob.objects.exclude(pk__in=warm_jobs).count()

    statuses = collections.Counter(status for status, _, _ in answers)
    ms = [m for _, _, m in answers]
    p = demo.percentile
    result = {
        "label": args.label, "uploads": args.uploads, "concurrency": args.concurrency,
        "status_counts": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors_5xx": sum(v for k, v in statuses.items() if k >= 500),
        "lost": len(job_ids) - sum(1 for s in finished.values() if s in ("done", "failed")),
        "failed_jobs": sum(1 for s in finished.values() if s == "failed"),
        "duplicated": jobs_per_photo + dup_suggestions + max(0, new_jobs - len(job_ids)),
        "photos_stored": stored, "accepted": len(accepted),
        "request_ms": {"p50": p(ms, 50), "p95": p(ms, 95), "max": max(ms)},
        "accepted_per_s": len(accepted) / (t_sent - t_start),
        "all_jobs_finished_after_s": t_done - t_start,
        "phases_ms": {ph: {"p50": p(v, 50), "p95": p(v, 95)} for ph in PHASES
                      if (v := [t[ph] for t in timings if ph in t])},
        "stack": {"web": web_name, "peers": ("postgresql+redis, 2 gpu workers" if args.peers
                                             else "embedded (sqlite, valkey, 1 gpu worker)")},
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg()},
    }
    print(f"\n{args.uploads} uploads, {args.concurrency} concurrent ({result['stack']['peers']}, web {web_name}, "
          f"one seller, CPU; load before {load_before[0]:.2f})")
    print(f"{'5xx':>5}{'lost':>6}{'dup':>5}{'failed':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'photos/s':>10}"
          f"{'all done s':>12}")
    r = result
    print(f"{r['server_errors_5xx']:>5}{r['lost']:>6}{r['duplicated']:>5}{r['failed_jobs']:>8}"
          f"{r['request_ms']['p50']:>9.0f}{r['request_ms']['p95']:>9.0f}{r['request_ms']['max']:>9.0f}"
          f"{r['accepted_per_s']:>10.1f}{r['all_jobs_finished_after_s']:>12.1f}")
    print(f"status codes: {result['status_counts']}")
    print("where the time goes (ms):" + "".join(f"{ph:>10}" for ph in result["phases_ms"]))
    for q in ("p50", "p95"):
        print(f"{q:>25}" + "".join(f"{v[q]:>10.1f}" for v in result["phases_ms"].values()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
