"""Benchmark a full re-index end to end: N stock images (rows in the database, PNG files on disk) read, decoded,
embedded and inserted into a fresh milvus-lite collection by the index lifecycle's own code
(workers.stages.index_lifecycle), exactly as the index worker fills a build.

    python bench/bench_reindex.py [--items 100000] [--distinct 400] [--runs hcg1:2:originals hcg1:2:thumbnails ...]
                                  [--out bench/results/reindex.json]

A run is VERSION:THREADS:SOURCE. THREADS is the decode + embed thread count (search.parallel_embed, REINDEX_THREADS).
SOURCE `originals`: no stock image has a thumbnail yet (a catalogue's first index, or a learned embedder, which
reads originals anyway): every 256 px original is decoded, and for the hand-made descriptor its 64 px thumbnail
written; `thumbnails`: the thumbnails a previous run left are read instead (every later re-index).

The catalogue's stock images are 256 px procedural renders (imagegen.offline.synth, as `seed_catalogue` makes them);
rendering 100k of them would take over an hour, so `--distinct` files are rendered and the rows point at them in
turn: every row still opens, decodes and embeds its file (and its own thumbnail). The database is a fresh SQLite
file in a temp folder. The machine's load average is recorded before and after each run.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack_bench import ROOT, django_for_fresh_stack  # noqa: E402  (stack_bench puts ROOT on sys.path)
from django.apps import apps  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from imagegen.offline.synth import make_item, render_stock  # noqa: E402
from marketplace import config  # noqa: E402
from search.embedders import get_embedder  # noqa: E402
from search.embedding import _colour_table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--runs", nargs="+", default=["hcg1:2:originals", "hcg1:2:thumbnails", "hcg1:1:thumbnails",
                                                   "hcg1:1:originals"])
    ap.add_argument("--distinct", type=int, default=400)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "reindex.json"))
    args = ap.parse_args()
    os.environ.setdefault("TORCH_THREADS", "1")
    var, _ = django_for_fresh_stack("bench-reindex-")
    # lazy: these three import Django models, which exist only once django_for_fresh_stack() has set Django up
    from devtools.catalogue_seed import STOCK_SIZE
    from workers import runtime  # lazy: as above
    from workers.stages import index_lifecycle  # lazy: as above

    IndexCollection, Item, StockImage = (apps.get_model("catalogue", name)
                                         for name in ("IndexCollection", "Item", "StockImage"))

    media = Path(settings.MEDIA_ROOT) / "stock" / "bench"
    media.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(args.distinct):
        spec = make_item(3, i)
        buf = io.BytesIO()
        render_stock(spec, STOCK_SIZE).save(buf, format="PNG")
        (media / f"s{i}.png").write_bytes(buf.getvalue())
        names.append((f"stock/bench/s{i}.png", spec.garment))
    seller = get_user_model().objects.create(username="bench")
    for start in range(0, args.items, 5000):
        n = min(5000, args.items - start)
        items = Item.objects.bulk_create([Item(title=f"bench {start + j}", category=names[(start + j) % len(names)][1],
                                               price=10, seller=seller) for j in range(n)])
        StockImage.objects.bulk_create([StockImage(item=it, image=names[(start + j) % len(names)][0],
                                                   index_dirty=False) for j, it in enumerate(items)])
    print(f"{args.items} stock images in the database ({args.distinct} distinct files)", flush=True)

    report = {"items": args.items, "distinct_files": args.distinct, "cpus": os.cpu_count(),
              "load_start": os.getloadavg(), "results": []}
    thumbs = Path(settings.MEDIA_ROOT) / "stock" / "thumbs"
    for n, spec in enumerate(args.runs):
        version, threads, source = spec.split(":")
        if source not in ("originals", "thumbnails"):
            raise SystemExit(f"unknown source in {spec!r}")
        if source == "originals":
            shutil.rmtree(thumbs, ignore_errors=True)
        os.environ["EMBEDDER_VERSION"] = version
        os.environ["REINDEX_THREADS"] = threads
        get_embedder(version).embed_images([])  # weights loaded before the clock, as in a warm worker
        _colour_table()
        settings.VECTOR_INDEX_URI = str(var / f"milvus-{n}.db")
        runtime._index = None
        IndexCollection.objects.all().delete()
        load = os.getloadavg()
        profile = None
        if config.read().BENCH_PROFILE == spec:
            profile = cProfile.Profile()
            profile.enable()
        t = time.perf_counter()
        while index_lifecycle.step(200, index_lifecycle.BUILD_BATCH):
            pass
        seconds = time.perf_counter() - t
        if profile is not None:
            profile.disable()
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
        live = IndexCollection.objects.get(state=IndexCollection.State.LIVE)
        count = index_lifecycle.vector_index().count()
        res = {"version": version, "threads": int(threads), "source": source, "seconds": round(seconds, 1),
               "images_per_s": round(args.items / seconds),
               "seconds_per_100k": round(seconds * 100_000 / args.items, 1),
               "stored": count, "done": live.done, "load_before": load, "load_after": os.getloadavg()}
        report["results"].append(res)
        print(json.dumps(res), flush=True)
        runtime._index.close()
        runtime._index = None
    print(f"\n{'version':10} {'threads':>7} {'source':>10} {'seconds':>8} {'images/s':>9} {'s per 100k':>10}")
    for r in report["results"]:
        print(f"{r['version']:10} {r['threads']:>7} {r['source']:>10} {r['seconds']:>8} {r['images_per_s']:>9} "
              f"{r['seconds_per_100k']:>10}")
    report["load_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
