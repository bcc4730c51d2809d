"""Faults under load on the embedded default: uploads through HTTP while the gpu worker is SIGKILLed mid-job, valkey is
down 10 s and the index worker is down 60 s, on a supervised stack (`./dev up`'s). Prints one row per fault (how
long the pipeline took to recover) and the totals (lost, duplicated, 5xx), and writes them as JSON.

The same drill (devtools.fault_drill) runs in the suite: tests/integration/test_faults.py.

    .venv/bin/python bench/bench_faults.py [--items 40] [--index-down 60] [--valkey-down 10] \\
        [--out bench/results/faults.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import stack_bench  # noqa: E402  (bench/ is on sys.path when a benchmark runs as a script)
from devtools import demo  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=40)
    ap.add_argument("--valkey-down", type=float, default=10)
    ap.add_argument("--index-down", type=float, default=60)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--interval", type=float, default=4.0, help="seconds between one thread's uploads")
    ap.add_argument("--out", default=str(ROOT / "bench/results/faults.json"))
    args = ap.parse_args()

    var, valkey_port = stack_bench.django_for_fresh_stack("bench-faults-")

    # lazy: these import Django models, which exist only once django_for_fresh_stack() has set Django up
    from devtools import accounts, catalogue_seed, fault_drill

    with stack_bench.seeded_stack(var, valkey_port, args.items, supervise=True) as stack:
        web = stack.service("web").extra["url"]
        seller, buyer = accounts.user_token("drill-seller", staff=True), accounts.user_token("drill-buyer")
        status, listing = demo.Api(web, seller).post_json("/api/listings/", {"title": "Drill", "garment_type": "top"})
        assert status == 201, listing
        photos = [catalogue_seed.street_photo(i % args.items, photo_seed=5000 + i) for i in range(24)]
        report = fault_drill.run(stack, seller_token=seller, buyer_token=buyer, listing_id=listing["id"],
                                 photos=photos, valkey_down_s=args.valkey_down, index_down_s=args.index_down,
                                 threads=args.threads, interval_s=args.interval)
    report.update(catalogue_items=args.items, machine={"cpus": os.cpu_count()},
                  broker={"visibility_timeout_s": 120, "note": "production defaults: recovery is the lease sweeper's"})
    print("\nfaults under load (embedded default, CPU, supervised stack)\n" + fault_drill.table(report))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
