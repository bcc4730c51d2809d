"""Blue/green lifecycle of the vector index: a new embedder version (or an operator's re-index) is built into a new
collection while the live one keeps serving, then the new one becomes live in one transaction.

milvus-lite has no aliases, so the database is the record: `marketplace.catalogue.models.IndexCollection` rows, one
per collection (`search.index.collection_name(version, build=n)`), exactly one `live`, at most one `building`.

- **First start** (no live row): the first collection is created `live` at once and fills in place.
- **A new active embedder version** (`runtime.active_embedder_version()`, checked at the index worker's warm-up, by
  the beat sweeper and at each index task) or **an operator's re-index**: a `building` collection is created and
  filled by `build_step`, BUILD_BATCH stock images per index task (embedded with the build's own embedder, *inserted*:
  the collection is fresh), in primary-key order; the row's `cursor` is the last pk covered, so a restart continues
  where it stopped. Each batch first deletes what a crashed batch may have inserted past the cursor (a few ms), so a
  resumed build never stores an image twice. Searches meanwhile query the live collection with the live
  collection's embedder (`runtime.live_embedder()`, `live_search()`).
- **Incremental changes** (`index_dirty` stock images, deletions) go to the live collection and to the building one
  for the images its cursor has passed; those past the cursor (an image added during the build) the build reads
  later, with the database's current fields. So nothing is missed and nothing inserted twice.
- **Switch**: when the build has covered every stock image it becomes `live` and the old live one `retired` in one
  transaction; the retired collection is then dropped (on a Milvus server after a grace period, since index workers
  in other processes may still be querying it).

With milvus-lite everything here runs on the index worker (the only process that opens the file), serialised by
`runtime.index_lock`, and a build goes in bounded batches of the index task between searches.

On a Milvus server (`VECTOR_INDEX_URI=http://...`) builds run on a queue of their own (`tasks.build_index` on
QUEUE_REINDEX, a worker of their own), so searches never queue behind them; several processes may then write at
once: writing to the collection being filled needs the row's lease (`claimed_by`, `lease_until`), which a crashed
holder loses after BUILD_LEASE_SECONDS; a task that finds it held leaves its work for later (`was_blocked()`).
Searches go through an alias per embedder version (`alias_for`, the collection name without its build), moved to a
finished build in one server-side step *before* the database switch: whoever reads the new live row finds the alias
ready, whoever read the old row (same version) gets the old or the new complete collection, never a missing or a
partial one; an old version's alias lives until its collection is dropped, after the grace period."""
from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from PIL import Image

from marketplace import config
from marketplace.catalogue.models import IndexCollection, StockImage
from marketplace.jobs import queue, task_names
from marketplace.jobs.models import ReindexRun
from marketplace.jobs.runs import reindex_claim, reindex_renew
from search.index import collection_name
from search.parallel_embed import embed_files

from .. import runtime

log = logging.getLogger(__name__)
State = IndexCollection.State
FILLING = [State.BUILDING, State.LIVE]

BUILD_BATCH = 1000  # stock images a build covers per index task, inserted in one call (search.index.INSERT_BATCH)
EMBED_CHUNK = 100  # images decoded at a time (bounds memory)
MAX_BUILD_FAILURES = 3  # consecutive failed batches before a build is given up (an operator's re-index retries)
BUILD_LEASE_SECONDS = 300  # Milvus server only: a batch's claim on the collection being filled
UNREADABLE = "unreadable"
COLLECTION_PREFIX = "stock_images_v"  # search.index.collection_name's default prefix + schema marker

_blocked = False  # the last index step found the collection being filled claimed by another process


def _embedder(version: str):
    return runtime.embedder(version)


def _active_version() -> str:
    return runtime.active_embedder_version()


def _expected_name(version: str, build: int) -> str:
    return collection_name(version, build=build)


def _embedded_store() -> bool:
    return "://" not in settings.VECTOR_INDEX_URI


def alias_for(version: str) -> str:
    """The server alias that names the live build of embedder `version` (`stock_images_v2_hcg1` -> `..._b7`)."""
    return collection_name(version)


def search_index(row: IndexCollection, dim: int):
    """The VectorIndex that searches of the live row `row` query: its collection on milvus-lite; on a server its
    version's alias (the collection itself until the alias exists: a store built before aliases)."""
    if _embedded_store():
        return runtime.collection_index(row.name, dim)
    alias = alias_for(row.embedder_version)
    cached = runtime.cached_collection(alias)
    if cached is not None and cached.dim == dim:
        return cached
    # Never created here: a search must not re-create, empty, a collection dropped after its grace period.
    direct = runtime.collection_index(row.name, dim, create=False)
    if direct.alias_target(alias) is None:
        return direct
    return runtime.collection_index(alias, dim, create=False)


def _point_alias(row: IndexCollection) -> None:
    """Server only: make the alias of `row`'s version name `row`'s collection."""
    if not _embedded_store():
        index_store().point_alias(alias_for(row.embedder_version), row.name)


def _publish_build() -> None:
    """Server only: start the build task on its own queue (after commit: it reads the row this transaction made).
    Duplicates are harmless: the row's lease lets one process write, the others return without work."""
    if _embedded_store():
        return
    transaction.on_commit(lambda: queue.publish(task_names.BUILD_INDEX, [], queue.queue_for(task_names.BUILD_INDEX)))


def _retire_grace() -> timedelta:
    """How long a retired collection is kept: none on milvus-lite, INDEX_RETIRE_GRACE_SECONDS (default 120) on a
    Milvus server. On milvus-lite a model worker's search may still be on its way to it (through the index worker's
    server: workers.index_endpoint); it then fails, and that batch is searched by the index worker instead, on the
    live collection (workers.stages.generate: nothing of the failed search is saved)."""
    return timedelta(seconds=0 if _embedded_store() else getattr(settings, "INDEX_RETIRE_GRACE_SECONDS", 120))


def index_of(row: IndexCollection):
    """The VectorIndex of an IndexCollection row."""
    return runtime.collection_index(row.name, _embedder(row.embedder_version).dim)


# --- reading the record -------------------------------------------------------------------------------------------
def live_collection(create: bool = False) -> IndexCollection | None:
    """The live row; with `create`, a fresh system's first collection is made (live at once, filled in place)."""
    row = IndexCollection.objects.filter(state=State.LIVE).first()
    if row is None and create:
        with runtime.index_lock:
            row = IndexCollection.objects.filter(state=State.LIVE).first() or _create(
                _active_version(), State.LIVE, "first collection")
    return row


def building_collection() -> IndexCollection | None:
    return IndexCollection.objects.filter(state=State.BUILDING).first()


def filling_collection() -> IndexCollection | None:
    """The collection a build is filling: the building one, or a first collection still filling in place."""
    return IndexCollection.objects.filter(state__in=FILLING, finished_at__isnull=True).order_by("-build").first()


def pending_work() -> bool:
    """Is there anything for the index task to do (dirty stock images; on milvus-lite also a build to continue)?"""
    return (_embedded_store() and filling_collection() is not None) or StockImage.objects.filter(
        index_dirty=True).exists()


def pending_build() -> bool:
    """Server only: is there a build for the build task (`tasks.build_index`) to continue?"""
    return not _embedded_store() and filling_collection() is not None


# --- creating, failing, dropping ------------------------------------------------------------------------------------
def _create(version: str, state: str, reason: str, supersede: IndexCollection | None = None) -> IndexCollection:
    """A new row and its (empty) collection. `supersede`: a live row given up in the same transaction."""
    dim = _embedder(version).dim  # an unknown version raises here, before any row exists
    with runtime.index_lock:
        for _ in range(5):
            build = (IndexCollection.objects.aggregate(m=Max("build"))["m"] or 0) + 1
            try:
                with transaction.atomic():
                    if supersede is not None:
                        IndexCollection.objects.filter(pk=supersede.pk, state=State.LIVE).update(
                            state=State.RETIRED, retired_at=timezone.now(), error=f"superseded: {reason}")
                    # Server: the row is held by its creator until its collection exists (creating one takes
                    # seconds there), so that no other process's build task fills a collection about to be made.
                    held = {} if _embedded_store() else {
                        "claimed_by": _me(), "lease_until": timezone.now() + timedelta(seconds=BUILD_LEASE_SECONDS)}
                    row = IndexCollection.objects.create(
                        name=_expected_name(version, build), embedder_version=version, build=build, state=state,
                        reason=reason[:200], total=StockImage.objects.count(), **held)
                break
            except IntegrityError:  # another process made one first (a Milvus server with several index workers)
                existing = IndexCollection.objects.filter(state=state).first()
                if existing is not None:
                    return existing
        else:
            raise RuntimeError("could not create an index collection row")
        # A collection of that name can only be a leftover (a database flushed or restored under the same store).
        # Sized for the catalogue as it is now: milvus-lite builds IVF_FLAT instead of FLAT for a large one.
        runtime.collection_index(row.name, dim, fresh=True, expected_rows=row.total)
        if state == State.LIVE:
            _point_alias(row)
        _release(row)
        if supersede is not None:
            _drop(supersede)
        _publish_build()
    log.info("index collection %s created (%s, %s): %s", row.name, version, state, reason)
    return row


def _drop(row: IndexCollection) -> None:
    drop_collection(row.name)
    IndexCollection.objects.filter(pk=row.pk).update(dropped_at=timezone.now())


def _fail(row: IndexCollection, error: str, state: str = State.FAILED) -> None:
    """Give up a build (`failed`), or set it aside (`retired`: superseded by another version)."""
    with transaction.atomic():
        n = IndexCollection.objects.filter(pk=row.pk, state=State.BUILDING).update(
            state=state, error=error[:4000], retired_at=timezone.now())
        if n and state == State.FAILED:
            _finish_runs(ReindexRun.State.FAILED, row, error=f"re-index failed: {error}")
    if n:
        _drop(row)
        log.warning("index build %s given up (%s): %s", row.name, state, error)


def drop_retired() -> int:
    """Drop the collections of retired and failed rows (after the grace period) and, on milvus-lite, any collection of
    ours no row keeps (a crash between a switch and its drop, a flushed database). Returns how many were dropped."""
    now = timezone.now()
    dropped = 0
    with runtime.index_lock:
        for row in IndexCollection.objects.filter(state__in=[State.RETIRED, State.FAILED], dropped_at__isnull=True,
                                                  retired_at__lte=now - _retire_grace()):
            _drop(row)
            dropped += 1
        if _embedded_store():  # a server may hold other deployments' collections: only drop what the rows name
            keep = set(IndexCollection.objects.filter(dropped_at__isnull=True).values_list("name", flat=True))
            for name in index_store().collections(COLLECTION_PREFIX):
                if name not in keep:
                    drop_collection(name)
                    dropped += 1
    return dropped


# --- deciding ------------------------------------------------------------------------------------------------------
def ensure_current() -> IndexCollection | None:
    """Start whatever the active embedder version calls for; returns the collection being filled, if any.

    No live collection: the first one is created live. The live one is of another version (or of an older index
    schema): a build of the active version is started, unless one is under way; a build of a version that is no
    longer active is set aside. A version whose last build failed is not retried automatically (an operator's
    re-index does)."""
    active = _active_version()
    with runtime.index_lock:
        live = live_collection()
        if live is None:
            return live_collection(create=True)
        if live.finished_at is None:  # the first collection, still filling in place
            if live.embedder_version != active:  # nothing complete to keep serving: start it again, active version
                return _create(active, State.LIVE, f"first collection (embedder {active})", supersede=live)
            return live
        building = building_collection()
        if building is not None and building.embedder_version != active:
            _fail(building, f"superseded: the active embedder is now {active}", state=State.RETIRED)
            building = None
        if building is not None:
            return building
        if live.embedder_version != active:
            reason = f"embedder {live.embedder_version} -> {active}"
        elif live.name != _expected_name(live.embedder_version, live.build):
            reason = "index schema changed"
        else:
            return None
        if IndexCollection.objects.filter(state=State.FAILED, embedder_version=active, build__gt=live.build).exists():
            return None  # given up: see the failed row's error; an operator's re-index tries again
        return _create(active, State.BUILDING, reason)


def reindex(run_id: int, token: str = "sweeper") -> IndexCollection | None:
    """Claim a ReindexRun for delivery `token` (pending, or running with a lapsed lease: marketplace.jobs.lifecycle)
    and start its build, or ride on the one under way; a run that cannot start (an unknown embedder version ...) is
    `failed` with the reason. None when the run was not claimable (a duplicate delivery, a live holder)."""
    if not reindex_claim(run_id, token):
        return None
    try:
        row = start_reindex(run_id)
    except Exception as exc:
        log.exception("re-index %s could not start", run_id)
        ReindexRun.objects.filter(pk=run_id).update(state=ReindexRun.State.FAILED, finished_at=timezone.now(),
                                                    claimed_by="", lease_expires_at=None,
                                                    error=f"re-index failed: {type(exc).__name__}: {exc}"[:4000])
        return None
    ReindexRun.objects.filter(pk=run_id, state=ReindexRun.State.RUNNING).update(total=row.total, done=row.done)
    return row


def start_reindex(run_id: int | None = None) -> IndexCollection:
    """An operator's re-index: a new build of the active version, unless one is already under way (then it rides on
    that one: it reads the catalogue as it is when it gets there)."""
    with runtime.index_lock:
        row = ensure_current()
        if row is None:
            row = _create(_active_version(), State.BUILDING, f"re-index run {run_id}" if run_id else "re-index")
        return row


# --- the lease (Milvus server: several index worker processes) -------------------------------------------------------
def _me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim(row: IndexCollection) -> bool:
    """Take (or renew) the right to write to the collection being filled; always granted on milvus-lite, which only
    this process opens."""
    global _blocked
    if _embedded_store():
        return True
    now = timezone.now()
    ok = bool(IndexCollection.objects.filter(pk=row.pk).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(claimed_by=_me())).update(
        claimed_by=_me(), lease_until=now + timedelta(seconds=BUILD_LEASE_SECONDS)))
    _blocked = _blocked or not ok
    return ok


def _release(row: IndexCollection) -> None:
    if not _embedded_store():
        IndexCollection.objects.filter(pk=row.pk, claimed_by=_me()).update(lease_until=None)


def was_blocked() -> bool:
    """Did the last index step leave work because another process held the collection being filled?"""
    return _blocked


# --- filling -------------------------------------------------------------------------------------------------------
def _embed(rows: list[StockImage], embedder) -> tuple[list[StockImage], np.ndarray, list[int]]:
    """(readable rows, their vectors, pks of unreadable ones): a missing or damaged file must not block the rest.
    Files on local disk are decoded and embedded on a few threads (search.parallel_embed: the re-index's cost),
    through each image's thumbnail when the embedder reads one (written the first time the image is read); other
    storage, one image after the other here."""
    paths = _local_paths(rows)
    if paths is not None:
        thumbs = [default_storage.path(r.thumbnail_name) for r in rows]
        have = [os.path.exists(t) for t in thumbs]
        vectors, readable = embed_files(embedder.version, paths, threads=runtime.reindex_threads(),
                                        thumbnails=[t if h else None for t, h in zip(thumbs, have)],
                                        thumbnails_out=[None if h else t for t, h in zip(thumbs, have)],
                                        device=config.read().EMBEDDER_DEVICE)
        broken = [r.pk for r, good in zip(rows, readable) if not good]
        for pk in broken:
            log.warning("stock image %s cannot be indexed: unreadable file", pk)
        return [r for r, good in zip(rows, readable) if good], vectors, broken
    ok, chunks, broken = [], [], []
    for start in range(0, len(rows), EMBED_CHUNK):
        images = []
        for row in rows[start:start + EMBED_CHUNK]:
            try:
                with row.image.open("rb") as fh:
                    images.append(Image.open(fh).convert("RGB"))
                ok.append(row)
            except Exception as exc:
                log.warning("stock image %s cannot be indexed: %s", row.pk, exc)
                broken.append(row.pk)
        if images:
            chunks.append(np.asarray(embedder.embed_images(images), np.float32))
    vectors = np.concatenate(chunks) if chunks else np.zeros((0, embedder.dim), np.float32)
    return ok, vectors, broken


def _local_paths(rows: list[StockImage]) -> list[str] | None:
    """The files' paths when the storage keeps them on this machine's disk (FileSystemStorage), else None."""
    try:
        return [row.image.path for row in rows]
    except (NotImplementedError, ValueError):  # remote storage; a row without a file
        return None


def _write(index, rows: list[StockImage], vectors: np.ndarray, insert: bool = False) -> None:
    fn = index.insert if insert else index.upsert
    fn([r.pk for r in rows], vectors, [r.item_id for r in rows], [r.item.category for r in rows],
       [r.item.in_stock for r in rows])


def _mirror_runs(row: IndexCollection) -> None:
    """Operators' running re-index runs show the progress of the build they ride on (and their leases renew: the
    build is alive)."""
    ReindexRun.objects.filter(state=ReindexRun.State.RUNNING).update(total=row.total, done=row.done)
    reindex_renew()


def _finish_runs(state: str, row: IndexCollection, error: str = "") -> None:
    ReindexRun.objects.filter(state=ReindexRun.State.RUNNING).update(
        state=state, total=row.total, done=row.done, error=error[:4000], finished_at=timezone.now(), claimed_by="",
        lease_expires_at=None)


def _save_progress(row: IndexCollection, cursor: int, covered: int, ok: list[int], broken: list[int]) -> None:
    """Record a batch: the cursor moves past it (one transaction with the stock images' own bookkeeping)."""
    with transaction.atomic():
        remaining = StockImage.objects.filter(pk__gt=cursor).count()
        IndexCollection.objects.filter(pk=row.pk).update(
            cursor=cursor, done=F("done") + covered, total=F("done") + covered + remaining, failures=0, error="")
        if row.state == State.LIVE:
            StockImage.objects.filter(pk__in=ok).update(indexed_version=row.embedder_version)
        StockImage.objects.filter(pk__in=broken).update(indexed_version=UNREADABLE)


def build_step(batch: int = BUILD_BATCH) -> int:
    """Cover the next `batch` stock images (pk order, past the cursor) in the collection being filled; switch when
    done. Returns how many stock images the build has still to cover (0: nothing being built)."""
    with runtime.index_lock:
        row = filling_collection()
        if row is None:
            return 0
        if not _claim(row):
            return StockImage.objects.filter(pk__gt=row.cursor).count()
        try:
            return _build_batch(row, batch)
        except Exception as exc:  # the next batch first deletes what this one may have inserted past the cursor
            IndexCollection.objects.filter(pk=row.pk).update(failures=F("failures") + 1,
                                                             error=f"{type(exc).__name__}: {exc}"[:4000])
            if row.state == State.BUILDING and row.failures + 1 >= MAX_BUILD_FAILURES:
                _fail(row, f"{MAX_BUILD_FAILURES} batches failed, the last with {type(exc).__name__}: {exc}")
            raise
        finally:
            _release(row)


def _build_batch(row: IndexCollection, batch: int) -> int:
    embedder = _embedder(row.embedder_version)
    target = runtime.collection_index(row.name, embedder.dim)
    target.delete_above(row.cursor)  # what a crashed batch inserted without moving the cursor: inserted again below
    ids = list(StockImage.objects.filter(pk__gt=row.cursor).order_by("pk").values_list("pk", flat=True)[:batch])
    if ids:
        if row.state == State.LIVE:  # filling the collection searches use: this covers the images' pending changes
            StockImage.objects.filter(pk__in=ids).update(index_dirty=False)  # (cleared *before* reading them)
        rows = list(StockImage.objects.filter(pk__in=ids).select_related("item").order_by("pk"))
        ok, vectors, broken = _embed(rows, embedder)
        if ok:
            _write(target, ok, vectors, insert=True)
        _save_progress(row, ids[-1], len(ids), [r.pk for r in ok], broken)
    row.refresh_from_db()
    remaining = StockImage.objects.filter(pk__gt=row.cursor).count()
    if remaining:
        _mirror_runs(row)
        return remaining
    _finish(row)
    return 0


def _finish(row: IndexCollection) -> None:
    """The build covered the catalogue: a first collection is simply finished; a building one becomes live."""
    if not _embedded_store():  # seal and index its segments, and make every row visible to every process's search
        target = runtime.collection_index(row.name, _embedder(row.embedder_version).dim)
        target.seal()
        target.count(strong=True)
        _point_alias(row)  # before the database says live: see the module's docstring
    now = timezone.now()
    if row.state == State.LIVE:
        with transaction.atomic():
            IndexCollection.objects.filter(pk=row.pk).update(finished_at=now, total=row.done)
            row.refresh_from_db()
            _finish_runs(ReindexRun.State.DONE, row)
        log.info("index collection %s filled: %s stock images", row.name, row.done)
        return
    with transaction.atomic():
        IndexCollection.objects.filter(state=State.LIVE).update(state=State.RETIRED, retired_at=now)
        if not IndexCollection.objects.filter(pk=row.pk, state=State.BUILDING).update(
                state=State.LIVE, finished_at=now, switched_at=now, total=row.done):
            raise RuntimeError(f"build {row.name} is no longer building")
        StockImage.objects.exclude(indexed_version=UNREADABLE).filter(index_dirty=False).update(
            indexed_version=row.embedder_version)
        row.refresh_from_db()
        _finish_runs(ReindexRun.State.DONE, row)
    log.info("index collection %s is live (%s stock images)", row.name, row.done)
    drop_retired()


# --- incremental changes -------------------------------------------------------------------------------------------
def index_dirty(batch: int) -> int:
    """Upsert the first `batch` stock images flagged dirty into the live collection and into the building one (those
    its cursor has passed; the build reads the others itself); returns how many remain dirty.

    The flag is cleared only after the writes, so a crash leaves the rows dirty for the next run; an upsert keyed by
    the StockImage id makes doing a batch twice harmless."""
    with runtime.index_lock:
        rows = list(StockImage.objects.filter(index_dirty=True).select_related("item").order_by("pk")[:batch])
        if not rows:
            return 0
        live_collection(create=True)
        filling = filling_collection()
        if filling is not None and not _claim(filling):  # its builder decides what it covers: wait for it
            return StockImage.objects.filter(index_dirty=True).count()
        try:  # the rows are read after the claim: the cursors are current
            return _index_dirty(rows, live_collection(), building_collection())
        finally:
            if filling is not None:
                _release(filling)


def _index_dirty(rows: list[StockImage], live: IndexCollection, building: IndexCollection | None) -> int:
    written_live: list[int] = []
    broken: set[int] = set()
    for target in (live, building):
        if target is None:
            continue
        subset = rows if target.finished_at else [r for r in rows if r.pk <= target.cursor]
        if not subset:
            continue
        embedder = _embedder(target.embedder_version)
        ok, vectors, bad = _embed(subset, embedder)
        broken.update(bad)
        if ok:
            _write(runtime.collection_index(target.name, embedder.dim), ok, vectors)
        if target.pk == live.pk:
            written_live = [r.pk for r in ok]
    with transaction.atomic():
        StockImage.objects.filter(pk__in=[r.pk for r in rows if r.pk not in broken]).update(index_dirty=False)
        StockImage.objects.filter(pk__in=written_live).update(indexed_version=live.embedder_version)
        StockImage.objects.filter(pk__in=broken).update(index_dirty=False, indexed_version=UNREADABLE)
    return StockImage.objects.filter(index_dirty=True).count()


def remove(ids: list[int]) -> None:
    """Delete vectors from the live and the building collection (deleting an absent id is harmless)."""
    if not ids:
        return
    with runtime.index_lock:
        for row in IndexCollection.objects.filter(state__in=FILLING):
            index_of(row).delete(ids)


# --- the worker's checks -------------------------------------------------------------------------------------------
def step(batch: int, build_batch: int = BUILD_BATCH) -> int:
    """One index task: the version check, `batch` dirty stock images, `build_batch` stock images of a build. Returns
    how many stock images are left (dirty + not yet covered by a build)."""
    global _blocked
    with runtime.index_lock:
        _blocked = False
        ensure_current()
        dirty = index_dirty(batch)
        if not _embedded_store():  # the build task fills it, on its own queue
            return dirty
        return dirty + build_step(build_batch)


def build(seconds: float, batch: int = BUILD_BATCH) -> tuple[int, bool]:
    """The build task (server): build batches for up to `seconds` (at least one). Returns (stock images left to
    cover, whether the task should run again: work is left and this process holds the build, so a duplicate task
    that found it held lets the holder finish rather than queue up behind it)."""
    global _blocked
    deadline = timezone.now() + timedelta(seconds=seconds)
    with runtime.index_lock:
        _blocked = False
        ensure_current()
        while True:
            remaining = build_step(batch)
            if not remaining or _blocked or timezone.now() >= deadline:
                return remaining, bool(remaining) and not _blocked


def sweep() -> dict:
    """The beat sweeper's index part (it runs on the index worker): re-index runs whose build vanished (a crash
    between claiming the run and starting its build), the active-version check, retired collections to drop. `work`
    says whether the index task should run. Runs whose publish was lost or whose lease lapsed are published again by
    the jobs sweeper, by the rule all jobs share (marketplace.jobs.lifecycle)."""
    with runtime.index_lock:
        row = ensure_current()
        if row is None and ReindexRun.objects.filter(state=ReindexRun.State.RUNNING).exists():
            try:
                row = start_reindex()
            except Exception as exc:
                log.exception("re-index could not start")
                ReindexRun.objects.filter(state=ReindexRun.State.RUNNING).update(
                    state=ReindexRun.State.FAILED, finished_at=timezone.now(), claimed_by="", lease_expires_at=None,
                    error=f"re-index failed: {type(exc).__name__}: {exc}"[:4000])
        dropped = drop_retired()
        return {"index_build": row.name if row is not None else "", "index_dropped": dropped, "work": pending_work(),
                "build": pending_build()}


def warm_up() -> None:
    """The index worker's start: check the active version, drop leftovers, open the live collection, and publish the
    index task when a build or dirty stock images are waiting."""
    with runtime.index_lock:
        ensure_current()
        drop_retired()
        vector_index()
        work, build_work = pending_work(), pending_build()
    if work:
        queue.publish(task_names.INDEX_STOCK_IMAGES, [], queue.queue_for(task_names.INDEX_STOCK_IMAGES))
    if build_work:
        queue.publish(task_names.BUILD_INDEX, [], queue.queue_for(task_names.BUILD_INDEX))


# --- the live collection and the store, as the index worker reaches them ------------------------------------------
def live_search():
    """(embedder, VectorIndex) of the live collection from ONE read of the live row, so a search never pairs one
    version's query vector with another version's collection when a switch lands in between (several index
    processes on a Milvus server)."""
    with runtime.index_lock:
        live = live_collection(create=True)
        embedder = runtime.embedder(live.embedder_version)
        return embedder, search_index(live, embedder.dim)


def vector_index():
    """The live collection's VectorIndex: what searches query and incremental changes go to (milvus-lite allows one
    process per file: only the index worker calls this). In a fresh system the first call creates the first
    collection, live at once."""
    return live_search()[1]


def index_store():
    """The process's connection to the store (a VectorIndex: `collections()`, `drop_collection()`), opened through
    the live collection when this process has none yet."""
    with runtime.index_lock:
        if not runtime.store_is_open():
            vector_index()
        return runtime.store()


def drop_collection(name: str) -> bool:
    with runtime.index_lock:
        runtime.forget_collection(name)
        return index_store().drop_collection(name)


# --- the index tasks' units of work ---------------------------------------------------------------------------------
INDEX_BATCH = 300  # stock images embedded + upserted per index task: ~1.5 ms to embed each, ~20k/s to upsert


def index_dirty_stock_images(batch: int = INDEX_BATCH, build_batch: int | None = None) -> int:
    """One unit of the index worker's work (the index task): check the active embedder version against the live
    collection, upsert the first `batch` stock images flagged dirty into the live (and the building) collection,
    then cover the next `build_batch` stock images of a build in progress (switching when it is complete). Returns
    how many stock images are left: flagged dirty plus those a build has yet to cover.

    Dirty flags are cleared only after the upsert succeeded, so a crash leaves the rows dirty for the next run, and
    an upsert keyed by the StockImage id makes doing a batch twice harmless; a build resumes from its cursor."""
    return step(batch, build_batch or BUILD_BATCH)


def remove_from_index(stock_image_ids: list[int]) -> int:
    """Drop the vectors of deleted stock images from the live and any building collection (ids that still exist in
    the database are kept)."""
    alive = set(StockImage.objects.filter(pk__in=stock_image_ids).values_list("pk", flat=True))
    gone = [i for i in stock_image_ids if i not in alive]
    remove(gone)
    return len(gone)
