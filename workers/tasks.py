"""Celery tasks: thin wrappers that take primary keys and call the stages (`workers.stages`).

Every kind of job follows one lifecycle (marketplace.jobs.lifecycle): a claim with a lease kept alive by a heartbeat,
and a sweeper (every JOB_SWEEP_SECONDS) that publishes again what a crash left behind, so recovery takes a lease,
not the broker's visibility timeout. Photo stages also ack late (a redelivery is a harmless extra; the claim decides
who works); training acks early, as it runs far longer than any visibility timeout.

The photo stages store no task result: the job row is the record of each photo (state, error, marks), and the worker
log has each task's answer. Storing it cost 0.22 ms of the worker's CPU and a Redis write per message, and under load
15 of every 16 gpu messages only find their job taken by a batch."""
from celery import shared_task

from marketplace.jobs import queue, sweeper, task_names


def _stages():
    """The stage modules, imported on a task's first run. Lazy on purpose: they import torch, mediapipe and pymilvus,
    which the prefork parent (it forks the children: no threads or CUDA state may exist before that) and the beat
    process never need."""
    from . import stages  # lazy: see the docstring

    return stages


@shared_task(name=task_names.GENERATE_STOCK_IMAGE, bind=True, ignore_result=True)
def generate_stock_image(self, job_id: int) -> str:
    return _stages().generate.generate_stock_image(job_id, self.request.id)


@shared_task(name=task_names.PREPROCESS_PHOTO, bind=True, ignore_result=True)
def preprocess_photo(self, job_id: int) -> str:
    return _stages().preprocess.preprocess_photo(job_id, self.request.id)


@shared_task(name=task_names.SEARCH_CATALOGUE, bind=True, ignore_result=True)
def search_catalogue(self, job_ids: int | list[int]) -> str:
    """One job (an upload's, or one the sweeper published again) or the photos of one generate batch."""
    return _stages().catalogue_search.search_catalogue(job_ids, self.request.id)


@shared_task(name=task_names.INDEX_STOCK_IMAGES)
def index_stock_images() -> int:
    index = _stages().index_lifecycle
    remaining = index.index_dirty_stock_images()
    if remaining:  # bounded batches (searches queue in between): re-enqueue until caught up and any build is done;
        # a second from now when another index process holds the collection being filled (Milvus server)
        index_stock_images.apply_async(queue=queue.queue_for(task_names.INDEX_STOCK_IMAGES),
                                       countdown=1 if index.was_blocked() else None)
    return remaining


@shared_task(name=task_names.REMOVE_FROM_INDEX)
def remove_from_index(stock_image_ids: list[int]) -> int:
    return _stages().index_lifecycle.remove_from_index(stock_image_ids)


@shared_task(name=task_names.REINDEX, bind=True)
def reindex(self, run_id: int) -> None:
    index = _stages().index_lifecycle
    index.reindex(run_id, self.request.id)  # starts a build; bounded batches fill it:
    if index.pending_build():  # a Milvus server: the build task, on the re-index queue
        build_index.apply_async(queue=queue.queue_for(task_names.BUILD_INDEX))
    else:  # milvus-lite: the index task, between searches
        index_stock_images.apply_async(queue=queue.queue_for(task_names.INDEX_STOCK_IMAGES))


# Seconds of build batches per build task: long enough that a task's overhead is small, short enough that a
# redelivery after a crash (visibility timeout, tens of seconds in tests) never finds it still running.
BUILD_TASK_SECONDS = 8.0


@shared_task(name=task_names.BUILD_INDEX)
def build_index() -> int:
    """A Milvus server's build of a new index collection, on QUEUE_REINDEX (workers.stages.index_lifecycle.build)."""
    remaining, again = _stages().index_lifecycle.build(BUILD_TASK_SECONDS)
    if again:
        build_index.apply_async(queue=queue.queue_for(task_names.BUILD_INDEX))
    return remaining


@shared_task(name=task_names.ROLL_OUT_MODEL)
def roll_out_model(version_id: int) -> str:
    return _stages().rollout.roll_out_model(version_id)


@shared_task(name=task_names.TRAIN_MODEL, bind=True, acks_late=False)
def train_model(self, run_id: int) -> str:
    return _stages().training.run_training(run_id, self.request.id)


@shared_task(name=task_names.SWEEP_JOB_LEASES, ignore_result=True)
def sweep_job_leases() -> dict:
    """The fast sweep (every few seconds): publish again jobs whose lease lapsed or whose publish was lost."""
    return sweeper.jobs_sweep()


@shared_task(name=task_names.SWEEP_STUCK_JOBS)
def sweep_stuck_jobs() -> dict:
    """Publish again what the broker lost; start an index build when the active embedder version is not the live
    collection's; let the index catch up with stock images still flagged dirty and with a build in progress."""
    counts = sweeper.jobs_sweep()
    index = _stages().index_lifecycle.sweep()
    counts.update(index_build=index["index_build"], index_dropped=index["index_dropped"])
    if index["work"]:
        index_stock_images.apply_async(queue=queue.queue_for(task_names.INDEX_STOCK_IMAGES))
    if index.get("build"):
        build_index.apply_async(queue=queue.queue_for(task_names.BUILD_INDEX))
    return counts
