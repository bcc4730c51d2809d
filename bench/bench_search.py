"""Benchmark the catalogue index: milvus-lite and a real Milvus server (search.index.VectorIndex, the product's own
wrapper), with faiss flat and HNSW as peers when faiss is installed, all on the same vectors in the same run.

    python bench/bench_search.py [--sizes 100000 1000000] [--stores lite server faiss-flat faiss-hnsw]
                                 [--queries 300] [--out bench/results/search.json]

Vectors are clustered like a real catalogue: hand-made descriptors (hcg1) of BASE procedural stock images
(imagegen.offline.synth, the generator's own catalogue renderer), each repeated with Gaussian noise (unit vectors
after), so that neighbours are near-duplicates of one garment and the rest of its cluster, not uniform noise where
every index looks good. Queries are drawn the same way. Ground truth is exact numpy top-10 over the same rows in the same run.

Reported per store and size: inserts/s (calls of INSERT_BATCH rows, as the re-index writes), p50/p95 of one query,
p50/p95 of a batch of BATCH queries (and per query), the same with the product's filter (category and in stock),
recall@10 against numpy, resident memory of the store's processes and its size on disk. The machine's load average
is recorded at the start and the end: on 2 shared cores, other work moves the tails.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

try:
    import faiss  # an optional peer: the faiss stores are left out when it is not installed
except ImportError:
    faiss = None

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from devtools.milvus_server import start_milvus  # noqa: E402  (after the sys.path line)
from imagegen.offline.synth import make_item, render_stock  # noqa: E402
from search import index as sx  # noqa: E402
from search.embedders import get_embedder  # noqa: E402

BASE = 1000  # distinct procedural stock images the vectors are drawn around
NOISE = 0.35  # noise norm relative to a unit base vector
K = 10
BATCH = 16
CATEGORIES = ["top", "bottom", "dress", "outer", "shoes"]
CACHE = ROOT / "var" / "bench-cache"


def base_vectors(n: int = BASE, size: int = 128) -> np.ndarray:
    """hcg1 descriptors of `n` procedural stock images (cached: rendering takes ~40 ms an image)."""
    path = CACHE / f"hcg1-base-{n}-{size}.npy"
    if path.exists():
        return np.load(path)
    embedder = get_embedder("hcg1")
    vecs = np.concatenate([embedder.embed_images([render_stock(make_item(7, i), size) for i in range(s, min(n, s + 100))])
                           for s in range(0, n, 100)]).astype(np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def draw(base: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, which base each came from): base + noise, normalised."""
    which = rng.integers(0, len(base), n)
    out = np.empty((n, base.shape[1]), np.float32)
    for s in range(0, n, 100_000):
        e = min(n, s + 100_000)
        v = base[which[s:e]] + rng.standard_normal((e - s, base.shape[1])).astype(np.float32) * (
            NOISE / np.sqrt(base.shape[1]))
        out[s:e] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out, which


def exact_top(data: np.ndarray, queries: np.ndarray, k: int = K, mask: np.ndarray | None = None) -> np.ndarray:
    """Exact inner-product top-k ids (numpy), optionally among rows where `mask` is true."""
    scores = np.empty((len(queries), 0), np.float32)
    ids = np.empty((len(queries), 0), np.int64)
    for s in range(0, len(data), 200_000):
        block = queries @ data[s:s + 200_000].T
        if mask is not None:
            block[:, ~mask[s:s + 200_000]] = -np.inf
        part = np.argpartition(-block, k, axis=1)[:, :k]
        scores = np.concatenate([scores, np.take_along_axis(block, part, 1)], axis=1)
        ids = np.concatenate([ids, part + s], axis=1)
        keep = np.argsort(-scores, axis=1)[:, :k]
        scores, ids = np.take_along_axis(scores, keep, 1), np.take_along_axis(ids, keep, 1)
    return ids


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[:K]) & set(t.tolist())) / K for f, t in zip(found, truth)]))


def pct(xs: list[float]) -> dict:
    a = np.asarray(xs) * 1000
    return {"p50_ms": round(float(np.percentile(a, 50)), 3), "p95_ms": round(float(np.percentile(a, 95)), 3)}


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs = [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        for q in procs:
            try:
                total += q.memory_info().rss
            except psutil.NoSuchProcess:
                pass
    return round(total / 2**20, 1)


def dir_mb(path: Path) -> float:
    if path.is_file():
        return round(path.stat().st_size / 2**20, 1)
    return round(sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20, 1)


def timed_searches(search_one, search_batch, queries: np.ndarray) -> dict:
    for q in queries[:5]:
        search_one(q)  # warm-up
    single, found = [], []
    for q in queries:
        t = time.perf_counter()
        found.append(search_one(q))
        single.append(time.perf_counter() - t)
    batched = []
    for s in range(0, len(queries) - BATCH + 1, BATCH):
        t = time.perf_counter()
        search_batch(queries[s:s + BATCH])
        batched.append(time.perf_counter() - t)
    per_query = [b / BATCH for b in batched]
    return {"single": pct(single), f"batch{BATCH}": pct(batched), f"batch{BATCH}_per_query": pct(per_query),
            "_found": found}


# --- stores ----------------------------------------------------------------------------------------------------------
def bench_milvus(uri: str, data: np.ndarray, meta: dict, queries: np.ndarray, truth, truth_f, flt: dict,
                 pids_fn, disk: Path) -> dict:
    name = f"bench_{len(data)}"
    probe = sx.VectorIndex(uri, "bench_probe", data.shape[1])
    probe.drop_collection(name)
    probe.drop_collection("bench_probe")
    ix = probe.open(name, data.shape[1], expected_rows=len(data))
    ids = np.arange(len(data))
    t = time.perf_counter()
    for s in range(0, len(data), 100_000):  # the product's writer, in calls of INSERT_BATCH
        e = s + 100_000
        ix.insert(ids[s:e], data[s:e], meta["item"][s:e], meta["cat"][s:e], meta["stock"][s:e])
    insert_s = time.perf_counter() - t
    t = time.perf_counter()
    ix.seal()
    if ix.server:
        ix._client.wait_for_index_building_complete(name, "vector") if hasattr(
            ix._client, "wait_for_index_building_complete") else _wait_index(ix, name, len(data))
    seal_s = time.perf_counter() - t
    ix._client.release_collection(name)
    ix._client.load_collection(name)
    one = lambda q: [h.id for h in ix.search(q, K)[0]]  # noqa: E731
    many = lambda qs: ix.search(qs, K)  # noqa: E731
    res = timed_searches(one, many, queries)
    res["recall@10"] = round(recall(res.pop("_found"), truth), 4)
    fone = lambda q: [h.id for h in ix.search(q, K, **flt)[0]]  # noqa: E731
    fres = timed_searches(fone, lambda qs: ix.search(qs, K, **flt), queries)
    res["filtered"] = {"single": fres["single"], "recall@10": round(recall(fres.pop("_found"), truth_f), 4)}
    res.update(index=ix.index_type(), search_params=ix.search_params()["params"],
               inserts_per_s=round(len(data) / insert_s), insert_s=round(insert_s, 1), seal_and_index_s=round(seal_s, 1),
               rss_mb=rss_mb(pids_fn()), disk_mb=dir_mb(disk))
    ix.drop_collection(name)
    probe.close()
    return res


def _wait_index(ix, name: str, n: int, timeout: float = 3600) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = ix._client.describe_index(name, index_name="vector")
        if int(info.get("indexed_rows", 0)) >= n and not int(info.get("pending_index_rows", 0)):
            return
        time.sleep(2)


def bench_faiss(kind: str, data: np.ndarray, queries: np.ndarray, truth) -> dict:
    faiss.omp_set_num_threads(1)  # one query on one core, like a Milvus search: OpenMP on 2 busy cores only waits
    before = psutil.Process().memory_info().rss
    t = time.perf_counter()
    if kind == "flat":
        ix = faiss.IndexFlatIP(data.shape[1])
    else:
        ix = faiss.IndexHNSWFlat(data.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efConstruction = 200
    ix.add(data)
    build_s = time.perf_counter() - t
    if kind != "flat":
        ix.hnsw.efSearch = 64
    one = lambda q: ix.search(q[None, :], K)[1][0].tolist()  # noqa: E731
    many = lambda qs: ix.search(qs, K)  # noqa: E731
    res = timed_searches(one, many, queries)
    res["recall@10"] = round(recall(res.pop("_found"), truth), 4)
    res.update(index="IndexFlatIP" if kind == "flat" else "IndexHNSWFlat(M=32, efC=200, efSearch=64)",
               inserts_per_s=round(len(data) / build_s), insert_s=round(build_s, 1),
               rss_mb=round((psutil.Process().memory_info().rss - before) / 2**20, 1))
    del ix
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--stores", nargs="+", default=["lite", "server", "faiss-flat", "faiss-hnsw"])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--server-uri", default="", help="an already running Milvus server (default: start one)")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "search.json"))
    args = ap.parse_args()
    os.environ.setdefault("TORCH_THREADS", "1")

    report = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_start": os.getloadavg(),
              "base_images": BASE, "noise": NOISE, "k": K, "batch": BATCH, "results": []}
    rng = np.random.default_rng(0)
    base = base_vectors()
    queries, _ = draw(base, args.queries, np.random.default_rng(1))
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    server = None
    try:
        want = set(args.stores)
        if ("faiss-flat" in want or "faiss-hnsw" in want) and faiss is None:
            print("faiss not installed: no faiss peers", flush=True)
            want -= {"faiss-flat", "faiss-hnsw"}
        uri = args.server_uri
        if "server" in want and not uri:
            server = start_milvus(tmp / "milvus", tmp / "logs")
            uri = server.extra["uri"]
        for n in args.sizes:
            data, which = draw(base, n, rng)
            meta = {"item": which, "cat": [CATEGORIES[w % len(CATEGORIES)] for w in which],
                    "stock": (np.arange(n) % 4 != 0)}
            flt = {"category": "top", "in_stock_only": True}
            mask = np.array([c == "top" for c in meta["cat"]]) & meta["stock"]
            t = time.perf_counter()
            truth = exact_top(data, queries)
            numpy_s = (time.perf_counter() - t) / len(queries)
            truth_f = exact_top(data, queries, mask=mask)
            report["results"].append({"store": "numpy-exact", "n": n, "batch_per_query_ms": round(numpy_s * 1000, 3)})
            print(f"n={n}: numpy exact {numpy_s * 1000:.2f} ms/query (batch {len(queries)})", flush=True)
            for store in args.stores:
                if store not in want:
                    continue
                t = time.perf_counter()
                if store == "lite":
                    db = tmp / f"lite-{n}.db"
                    res = bench_milvus(str(db), data, meta, queries, truth, truth_f, flt, _lite_pids, db)
                elif store == "server":
                    res = bench_milvus(uri, data, meta, queries, truth, truth_f, flt,
                                       lambda: [server.proc.pid] if server else [], tmp / "milvus")
                else:
                    res = bench_faiss(store.split("-")[1], data, queries, truth)
                res.update(store=store, n=n, wall_s=round(time.perf_counter() - t, 1), load=os.getloadavg())
                report["results"].append(res)
                print(json.dumps(res), flush=True)
            del data
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report["load_end"] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


def _lite_pids() -> list[int]:
    """milvus-lite runs its server as a child of this process."""
    return [c.pid for c in psutil.Process().children() if "milvus" in " ".join(c.cmdline()).lower()]


if __name__ == "__main__":
    main()
