"""What the tasks do, as plain functions, one module per stage (tests and management commands call them too).

    preprocess      the separate CPU stage (PREPROCESS_SEPARATE): decode + mediapipe, hand the job to the generator
    generate        the gpu queue: a micro-batch of photos through G1 -> G2 and the embedding, stored, then searched
                    in place (in_place_search) or handed to the index worker (catalogue_search)
    catalogue_search  the index queue's search of a batch: one query per filter, results and `done` in one commit
    index_lifecycle   the blue/green vector index: incremental upserts, builds, the switch, the live collection
    rollout, training the model versions operators train and roll out
    warm_up         what a worker child loads before its first task

and the pieces they share below them: `photos` (one photo, a failure's reason), `storage` (generated images),
`confidence` (the gate's verdict). Every stage first claims its job row (marketplace.jobs.photo_jobs), so a duplicate
delivery is a no-op and a redelivery after a crash takes over cleanly. Below the stages: `workers.runtime` (the
per-process model and index caches). Stages import torch, mediapipe and pymilvus at module level: only a worker
child that runs a task loads them (workers.tasks imports this package inside its task bodies).
"""
from . import catalogue_search, generate, in_place_search, index_lifecycle, preprocess, rollout, training, warm_up

__all__ = ["catalogue_search", "generate", "in_place_search", "index_lifecycle", "preprocess", "rollout", "training",
           "warm_up"]
