"""200 photo uploads, 20 at a time, against the running embedded stack (web + valkey + workers): issue #12.

Counts what must be zero (5xx answers, uploads accepted but whose job never finished = lost, a photo with more than
one job or a job with duplicate suggestions = duplicated) and times the upload request itself (p50/p95: the answer
the seller waits for, not the job), plus accepted photos per second and how long the workers took to finish them.

    .venv/bin/python bench/bench_uploads.py [--uploads 200] [--concurrency 20] [--out bench/results/uploads.json]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import stack_bench  # noqa: E402  (bench/ is on sys.path when a benchmark runs as a script)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--uploads", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--label", default="", help="a note stored with the result (e.g. before/after)")
    ap.add_argument("--out", default=str(ROOT / "bench/results/uploads.json"))
    args = ap.parse_args()

    var, valkey_port = stack_bench.django_for_fresh_stack("bench-uploads-")
    from django.db.models import Count

    from marketplace.jobs.models import ImageJob
    from marketplace.listings.models import ListingPhoto, Suggestion
    from workers import demo
    from workers.catalogue_seed import street_photo

    photos = [street_photo(i % args.items, photo_seed=5000 + i)[0] for i in range(args.concurrency)]
    extra = {"THROTTLE_UPLOAD": "100000/min"}  # one seller sends all of them: the per-user limit is not measured here
    with stack_bench.seeded_stack(var, valkey_port, args.items, extra_env=extra) as stack:
        api = demo.Api(stack.service("web").extra["url"], demo.user_token("bench-seller", role="seller"))
        listing_ids = [api.post_json("/api/listings/", {"title": f"bench {n}", "garment_type": "top"})[1]["id"]
                       for n in range(args.concurrency)]
        demo.seller_upload(api, photos[0], "top")  # warm-up: the workers load their models on their first task
        warm_jobs = set(ImageJob.objects.values_list("pk", flat=True))

        def one(n: int):
            t0 = time.perf_counter()
            status, body = api.post_image(f"/api/listings/{listing_ids[n % len(listing_ids)]}/photos/",
                                          photos[n % len(photos)])
            return status, body, (time.perf_counter() - t0) * 1000

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
        "machine": {"cpus": os.cpu_count()},
    }
    print(f"\n{args.uploads} uploads, {args.concurrency} concurrent (embedded stack, one seller, CPU)")
    print(f"{'5xx':>5}{'lost':>6}{'dup':>5}{'failed':>8}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'photos/s':>10}"
          f"{'all done s':>12}")
    r = result
    print(f"{r['server_errors_5xx']:>5}{r['lost']:>6}{r['duplicated']:>5}{r['failed_jobs']:>8}"
          f"{r['request_ms']['p50']:>9.0f}{r['request_ms']['p95']:>9.0f}{r['request_ms']['max']:>9.0f}"
          f"{r['accepted_per_s']:>10.1f}{r['all_jobs_finished_after_s']:>12.1f}")
    print(f"status codes: {result['status_counts']}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
