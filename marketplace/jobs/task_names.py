"""Names of the Celery tasks, shared by the web publisher and the workers that register them.

The web process enqueues by these names and never imports `workers/` (which would load torch and open Milvus)."""
GENERATE_STOCK_IMAGE = "workers.generate_stock_image"  # queue gpu: preprocess -> G1 -> G2 -> embed, in batches
PREPROCESS_PHOTO = "workers.preprocess_photo"  # queue cpu (PREPROCESS_SEPARATE): decode + mediapipe, then gpu
SEARCH_CATALOGUE = "workers.search_catalogue"  # queue index: query Milvus, write suggestions/recommendations
INDEX_STOCK_IMAGES = "workers.index_stock_images"  # queue index: bounded batch of dirty stock images
REMOVE_FROM_INDEX = "workers.remove_from_index"  # queue index: vectors of deleted stock images
REINDEX = "workers.reindex"  # queue reindex (server) / index (milvus-lite): an operator's full re-index
BUILD_INDEX = "workers.build_index"  # queue reindex (server) / index (milvus-lite): bounded batches of a build
TRAIN_MODEL = "workers.train_model"  # queue train: one training run, lease + heartbeat
ROLL_OUT_MODEL = "workers.roll_out_model"  # queue gpu: check a checkpoint loads, then make it the active version
SWEEP_STUCK_JOBS = "workers.sweep_stuck_jobs"  # queue index, every 30 s from celery beat
SWEEP_JOB_LEASES = "workers.sweep_job_leases"  # queue index, every JOB_SWEEP_SECONDS from celery beat: lapsed leases
