"""The index on a real Milvus server (the `milvus` package's standalone binary, started once per session by the
`milvus_server` fixture): HNSW collections, the blue/green switch through an alias while other processes search,
and the lease that lets one of several worker processes fill a build.

The searching processes are real processes (tests/workers/searcher.py, the search stage's own calls in a loop):
every answer they get during a re-index must be complete (all EXPECTED stock images) and none may fail."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.utils import timezone

from marketplace.catalogue.models import IndexCollection, StockImage
from tests.workers.test_index_lifecycle import NEW, OLD, ProjectedEmbedder, make_catalogue, stock_image
from search.embedders import register_embedder
from workers import runtime
from workers.stages import in_place_search, index_lifecycle
from devtools.processes import ROOT

S = IndexCollection.State


@pytest.fixture
def on_server(server_index, monkeypatch):
    monkeypatch.setenv("EMBEDDER_VERSION", OLD)
    register_embedder(NEW, ProjectedEmbedder)
    yield server_index
    register_embedder(NEW, None)


class Searchers:
    """`n` searching processes (tests/workers/searcher.py) against the test database and the server."""

    def __init__(self, tmp: Path, expected: int, n: int = 2):
        self.tmp, self.expected = tmp, expected
        self.stop_file = tmp / "stop"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings",
               "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
               "VECTOR_INDEX_URI": settings.VECTOR_INDEX_URI, "TORCH_THREADS": "1"}
        self.outs = [tmp / f"searcher{i}.json" for i in range(n)]
        self.procs = [subprocess.Popen([sys.executable, "-m", "tests.workers.searcher", str(o), str(self.stop_file),
                                        str(expected)], cwd=ROOT, env=env) for o in self.outs]
        deadline = time.time() + 90
        while not all(Path(str(o) + ".ready").exists() for o in self.outs):
            assert time.time() < deadline, "searchers did not start"
            assert all(p.poll() is None for p in self.procs), "a searcher exited"
            time.sleep(0.2)

    def stop(self) -> dict:
        self.stop_file.write_text("1")
        for p in self.procs:
            p.wait(60)
        total = {"searches": 0, "failures": 0, "partial": 0, "errors": [], "collections": [], "latency_ms": []}
        for o in self.outs:
            r = json.loads(o.read_text())
            for key in ("searches", "failures", "partial"):
                total[key] += r[key]
            total["errors"] += r["errors"]
            total["latency_ms"] += r["latency_ms"]
            total["collections"] += [c for c in r["collections"] if c not in total["collections"]]
        return total

    def kill(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def searched_during(tmp: Path, expected: int, work) -> dict:
    """Run `work()` while two searching processes search; returns their combined counts."""
    searchers = Searchers(tmp, expected)
    try:
        time.sleep(1.0)  # searches before the work starts, too
        work()
        time.sleep(1.0)
        return searchers.stop()
    finally:
        searchers.kill()


def server_catalogue(n: int) -> list:
    """`n` stock images, indexed: on a server the index task writes changes and the build task fills the first
    collection (here both run in this process)."""
    rows = make_catalogue(n)
    while index_lifecycle.build(seconds=5)[0]:
        pass
    return rows


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[int(0.95 * (len(xs) - 1))] if xs else 0.0


@pytest.mark.django_db(transaction=True)
def test_a_re_index_switches_through_the_alias_while_other_processes_search(on_server, tmp_path, monkeypatch):
    rows = server_catalogue(24)  # the first collection: live at once, HNSW, its version's alias names it
    first = IndexCollection.objects.get(state=S.LIVE)
    store = index_lifecycle.index_store()
    assert store.alias_target(index_lifecycle.alias_for(OLD)) == first.name
    assert index_lifecycle.index_of(first).index_type() == "HNSW"

    def rebuild_same_version_then_switch_version():
        index_lifecycle.start_reindex()  # an operator's re-index: a second build of the same version
        while index_lifecycle.build(seconds=0.5, batch=5)[0]:
            time.sleep(0.2)  # searches land before, during and after each batch
        monkeypatch.setenv("EMBEDDER_VERSION", NEW)  # a new embedder version: a build of its own, then the switch
        while index_lifecycle.build(seconds=0.5, batch=5)[0]:
            time.sleep(0.2)

    counts = searched_during(tmp_path, len(rows), rebuild_same_version_then_switch_version)

    assert counts["searches"] > 20
    assert counts["failures"] == 0 and counts["partial"] == 0, counts["errors"]
    assert [c.split(":")[0] for c in counts["collections"]] == [OLD, NEW]  # old answers, then new ones, never mixed
    live = IndexCollection.objects.get(state=S.LIVE)
    assert live.embedder_version == NEW and live.build == 3 and live.done == 24
    assert store.alias_target(index_lifecycle.alias_for(NEW)) == live.name
    assert index_lifecycle.index_of(live).count(strong=True) == 24
    assert p95(counts["latency_ms"]) < 250, p95(counts["latency_ms"])  # embed + search, on 2 busy shared cores
    # The retired builds are dropped after the grace period (their alias with them), and only then.
    assert set(store.collections("stock_images_v")) >= {first.name, live.name}
    monkeypatch.setattr(settings, "INDEX_RETIRE_GRACE_SECONDS", 0, raising=False)
    index_lifecycle.drop_retired()
    assert store.collections("stock_images_v") == [live.name]
    assert store.alias_target(index_lifecycle.alias_for(OLD)) is None


@pytest.mark.django_db(transaction=True)
def test_incremental_changes_are_upserts_seen_at_once_and_the_build_is_inserts(on_server):
    rows = server_catalogue(6)
    live = IndexCollection.objects.get(state=S.LIVE)
    ix = index_lifecycle.vector_index()
    stock_image(99, category="bottom")
    assert index_lifecycle.index_dirty_stock_images() == 0
    # No flush: a strong read (what a finished build does once) waits until the write is visible to every
    # process; the searches after it see it. An upsert of a present row adds no duplicate.
    assert ix.count(strong=True) == 7 and index_lifecycle.index_of(live).count() == 7
    StockImage.objects.filter(pk=rows[0].pk).update(index_dirty=True)
    index_lifecycle.index_dirty_stock_images()
    assert ix.count(strong=True) == 7
    hits = ix.search(ix._client.query(live.name, filter=f"id == {rows[1].pk}", output_fields=["vector"])[0]["vector"],
                     10, category="bottom")[0]
    assert [h.item_id for h in hits] == [StockImage.objects.get(item__title="item 99").item_id]


@pytest.mark.django_db(transaction=True)
def test_a_build_held_by_another_worker_process_waits_for_its_lease(on_server, monkeypatch):
    rows = server_catalogue(6)
    monkeypatch.setenv("EMBEDDER_VERSION", NEW)
    index_lifecycle.sweep()
    building = IndexCollection.objects.get(state=S.BUILDING)
    other = dict(claimed_by="elsewhere:1", lease_until=timezone.now() + timedelta(seconds=60))
    IndexCollection.objects.filter(pk=building.pk).update(**other)
    StockImage.objects.filter(pk=rows[0].pk).update(index_dirty=True)

    assert index_lifecycle.index_dirty_stock_images() == 1  # the index task leaves the build to the build task ...
    assert index_lifecycle.was_blocked()  # ... and the dirty row to whoever holds the build
    assert index_lifecycle.build(seconds=1, batch=3) == (6, False)  # held elsewhere: no work, no re-enqueue
    building.refresh_from_db()
    assert building.cursor == 0 and StockImage.objects.get(pk=rows[0].pk).index_dirty

    IndexCollection.objects.filter(pk=building.pk).update(lease_until=timezone.now() - timedelta(seconds=1))  # lapsed
    assert index_lifecycle.build(seconds=0, batch=3) == (3, True)
    building.refresh_from_db()
    assert building.cursor == rows[2].pk and building.lease_until is None  # released after the batch
    assert index_lifecycle.build(seconds=5, batch=3) == (0, False)
    assert index_lifecycle.index_dirty_stock_images() == 0
    live = IndexCollection.objects.get(state=S.LIVE)
    assert live.pk == building.pk
    assert index_lifecycle.index_of(live).count(strong=True) == 6


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_two_index_workers_share_one_server_through_a_re_index(on_server, broker_settings, media_root, tmp_path):
    """Real Celery workers, as docker-compose runs them against a server: two index workers, each also consuming
    the re-index queue, so the build task and its duplicates land on both; the lease decides who writes."""
    from marketplace.catalogue.services import reindex_start
    from marketplace.jobs import queue, task_names
    from marketplace.jobs.models import ReindexRun
    from tests.conftest import wait_until
    from devtools.stack import start_worker
    from devtools.processes import free_port, start_valkey

    logs = tmp_path / "logs"
    valkey = start_valkey(free_port(), tmp_path / "valkey", logs)
    workers = []
    try:
        broker_settings(valkey.extra["url"])
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "marketplace.settings", "MARKETPLACE_VAR_DIR": str(tmp_path),
               "REDIS_URL": valkey.extra["url"], "PYTHONUNBUFFERED": "1",
               "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
               "MEDIA_ROOT": str(media_root), "VECTOR_INDEX_URI": settings.VECTOR_INDEX_URI, "TORCH_THREADS": "1",
               "CELERY_VISIBILITY_TIMEOUT": "30", "CELERY_UNACKED_RESTORE_INTERVAL": "2",
               "EMBEDDER_VERSION": OLD, "WORKER_WARMUP": "index"}
        queues = f"{settings.QUEUE_INDEX},{settings.QUEUE_REINDEX}"
        workers = [start_worker("index1", queues, env, logs, beat=True, wait=False),
                   start_worker("index2", queues, env, logs, wait=False)]
        from devtools.processes import wait_for_log
        for w in workers:
            wait_for_log(w, " ready.", 120)

        rows = [stock_image(i) for i in range(30)]
        queue.publish(task_names.INDEX_STOCK_IMAGES, [], queue.queue_for(task_names.INDEX_STOCK_IMAGES))
        wait_until(lambda: IndexCollection.objects.filter(state=S.LIVE, finished_at__isnull=False, done=30).exists(),
                   120, what="the first collection filled by the build task")

        def operator_re_index():
            run = reindex_start(user=None)
            wait_until(lambda: ReindexRun.objects.get(pk=run.pk).state in ("done", "failed"), 120, what="re-index")
            assert ReindexRun.objects.get(pk=run.pk).state == "done", ReindexRun.objects.get(pk=run.pk).error

        counts = searched_during(tmp_path, len(rows), operator_re_index)
    finally:
        for w in workers:
            w.stop()
        valkey.stop()

    assert counts["searches"] > 10
    assert counts["failures"] == 0 and counts["partial"] == 0, counts["errors"]
    live = IndexCollection.objects.get(state=S.LIVE)
    assert live.build == 2 and live.done == 30
    ix = index_lifecycle.index_of(live)
    stored = ix._client.query(live.name, filter="id >= 0", output_fields=["id"], consistency_level="Strong")
    assert sorted(r["id"] for r in stored) == [r.pk for r in rows]  # each stock image once
    assert index_lifecycle.index_store().alias_target(index_lifecycle.alias_for(OLD)) == live.name
    both = [w.log_path.read_text(errors="replace") for w in workers]
    assert all("workers.index_stock_images" in text or "workers.build_index" in text for text in both)
    assert not any("Traceback" in text for text in both), [t[-3000:] for t in both]


@pytest.mark.django_db(transaction=True)
def test_a_model_worker_searches_the_server_itself_through_the_live_alias(on_server):
    """On a server any process may search: a model worker's `search_here` (a process that never opened the store)
    answers from the live collection, through its version's alias, and never creates a collection."""
    from tests.workers.test_index_lifecycle import pil

    rows = server_catalogue(6)
    runtime._index.close()  # from here on this process is a model worker: it never opened the store
    runtime._index = None
    runtime._collections.clear()
    embedder, ix = in_place_search.searcher()
    assert ix.server and embedder.version == OLD
    assert ix.search(embedder.embed_images([pil(rows[2])]), 3)[0][0].id == rows[2].pk
    live = IndexCollection.objects.get(state=S.LIVE)
    assert ix.collection in (live.name, index_lifecycle.alias_for(live.embedder_version))


def test_a_search_the_server_cannot_route_this_instant_is_sent_again_and_other_errors_are_not(milvus_server, caplog):
    """What a re-index's switch did to two searches in CI: the proxy, between shard leaders as the alias moved,
    answered "failed to get delegator -1". A real collection on the real server; the first call of each search
    meets that answer (the server's own words), the retry the server itself."""
    from pymilvus.exceptions import MilvusException

    from search.index import VectorIndex, is_routing_error

    index = VectorIndex(milvus_server, "routing_retry_test", 4)
    real_search, calls = index._client.search, []
    try:
        index.insert([1, 2, 3], np.eye(4, dtype=np.float32)[:3], [10, 20, 30], ["top"] * 3, [True] * 3)
        index.count(strong=True)

        def search_meeting(error):
            def search(*args, **kwargs):
                calls.append(error)
                if len(calls) == 1:
                    raise error
                return real_search(*args, **kwargs)
            return search

        routing = MilvusException(code=65535, message="failed to get delegator -1 for channel by-dev-rootcoord-dml_3_"
                                                      "470953632580115231v0: can not find client of node -1")
        assert is_routing_error(routing)
        index._client.search = search_meeting(routing)
        hits = index.search(np.eye(4, dtype=np.float32)[1], 3)[0]
        assert [h.item_id for h in hits][0] == 20 and len(hits) == 3 and len(calls) == 2
        assert "between shard leaders" in caplog.text

        calls.clear()  # an error about the collection itself goes to the caller at once
        missing = MilvusException(code=100, message="collection not found[collection=routing_retry_test]")
        assert not is_routing_error(missing) and not is_routing_error(RuntimeError("failed to get delegator"))
        index._client.search = search_meeting(missing)
        with pytest.raises(MilvusException, match="collection not found"):
            index.search(np.eye(4, dtype=np.float32)[1], 3)
        assert len(calls) == 1
    finally:
        index._client.search = real_search
        index.drop()
        index.close()
