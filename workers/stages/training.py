"""A training run as an operator starts it: claim the TrainingRun row, prepare data, train with a heartbeat,
register the checkpoint as a ModelVersion, and optionally roll it out.

Used by the `train_model` Celery task and by `manage.py train_model` (same function, no broker)."""
from __future__ import annotations

import logging
import multiprocessing
import traceback
from pathlib import Path

from django.conf import settings

from imagegen.offline.data import read_manifest, write_manifest
from imagegen.offline.pair_dataset import PairDataset
from imagegen.offline.synth import generate_dataset
from imagegen.offline.train import TrainConfig, train
from marketplace.jobs import runs as jobs
from marketplace.jobs.models import ModelVersion, TrainingRun
from marketplace.listings.services import feedback_export

from .rollout import roll_out_model

log = logging.getLogger(__name__)


def in_daemon_process() -> bool:
    """A Celery prefork child is a daemonic process, and those may not start children: no multiprocessing pool, no
    DataLoader worker processes there ("daemonic processes are not allowed to have children")."""
    return multiprocessing.current_process().daemon


class Cancelled(Exception):
    pass


def default_manifest() -> Path:
    """The training set used when a run names none: procedural street-to-shop data (TRAINING_SYNTH_ITEMS items),
    generated once. Drawn in this process when it is a worker's pool child (see `in_daemon_process`)."""
    data_dir = Path(settings.TRAINING_DATA_DIR)
    manifest = data_dir / "manifest.jsonl"
    if not manifest.exists():
        generate_dataset(data_dir, items=settings.TRAINING_SYNTH_ITEMS, photos_per_item=settings.TRAINING_SYNTH_PHOTOS,
                         seed=0, workers=1 if in_daemon_process() else None, progress=False)
    return manifest


def with_feedback(base: Path, out_dir: Path) -> Path:
    """The run's manifest: `base` plus the sellers' accepted suggestions (`FeedbackPair`), exported to
    `out_dir/feedback.jsonl` and merged into `out_dir/manifest.jsonl`. Returns `base` itself when there is no
    feedback. Feedback of an item that `base` holds out (val/test) is dropped: splits stay by item. A resumed run
    reuses the manifest it started with, so its data does not change under it."""
    merged, feedback = out_dir / "manifest.jsonl", out_dir / "feedback.jsonl"
    if merged.is_file() and (out_dir / "training_state.pt").is_file():
        return merged
    exported = feedback_export(feedback)
    if not exported:
        return base
    records = read_manifest(base)
    held_out = {r.item_id for r in records if r.split != "train"}
    extra = [r for r in read_manifest(feedback) if r.item_id not in held_out]
    if len(extra) < exported:
        log.warning("%d feedback pair(s) of held-out items were left out of %s", exported - len(extra), merged)
    if not extra:
        return base
    log.info("training on %s with %d feedback pair(s)", base, len(extra))
    return write_manifest(records + extra, merged)


def run_training(run_id: int, task_id: str) -> str:
    run = jobs.training_run_claim(run_id, task_id)
    if run is None:
        return "skipped: not claimable"
    if run.cancel_requested:  # cancelled while its holder was gone: end it instead of training again
        jobs.training_run_finish(run.pk, task_id, state=TrainingRun.State.CANCELLED, error="cancelled by an operator")
        return "cancelled"
    with jobs.training_run_keepalive(run.pk, task_id):  # the lease lives through data preparation too
        return _run_claimed(run, task_id)


def _run_claimed(run: TrainingRun, task_id: str) -> str:
    params = dict(run.parameters)
    out_dir = Path(settings.MODEL_DIR) / f"run-{run.pk}"
    out_dir.mkdir(parents=True, exist_ok=True)
    TrainingRun.objects.filter(pk=run.pk).update(output_dir=str(out_dir))
    try:
        base = Path(params.get("data") or default_manifest())
        manifest = with_feedback(base, out_dir) if params.get("include_feedback", True) else base
        records = read_manifest(manifest)
        image_size = int(params.get("image_size", 64))
        cache = base.parent / ".imagegen_cache"
        train_set = PairDataset([r for r in records if r.split == "train"], image_size, cache_dir=cache)
        train_set.prepare(progress=False)
        val_records = [r for r in records if r.split == "val"]
        val_set = PairDataset(val_records, image_size, cache_dir=cache) if val_records else None
        if val_set is not None:
            val_set.prepare(progress=False)
        fields = {k: params[k] for k in ("steps", "batch_size", "lr", "seed", "arch", "fm_weight")
                  if k in params}
        if in_daemon_process():
            fields["num_workers"] = 0  # DataLoader workers would be children of a daemonic process
        config = TrainConfig(image_size=image_size, resume=(out_dir / "training_state.pt").exists(), half=True,
                             progress_bar=False, **fields)

        def heartbeat(step, total_steps, losses):
            if not jobs.training_run_heartbeat(run.pk, task_id, step=step, total_steps=total_steps,
                                               losses={k: round(float(v), 5) for k, v in losses.items()}):
                raise Cancelled()

        result = train(config, train_set, out_dir, val_set=val_set, on_progress=heartbeat)
        if getattr(result, "stopped_early", False):
            raise Cancelled()
        version = ModelVersion.objects.create(
            label=f"run{run.pk}-step{result.step}", checkpoint=str(result.checkpoint_path),
            metrics={"final_losses": result.losses, **result.metrics}, training_run=run)
        if params.get("activate"):  # before `done`: a finished run means everything it was asked for is in place
            roll_out_model(version.pk)
        jobs.training_run_finish(run.pk, task_id, state=TrainingRun.State.DONE,
                                 log_text=f"checkpoint {result.checkpoint_path}\nsamples {result.sample_grid_path}\n"
                                          f"loss plot {result.loss_plot_path}\nmodel version {version.label}"
                                          f"{' (active)' if params.get('activate') else ''}")
        return "done"
    except Cancelled:
        jobs.training_run_finish(run.pk, task_id, state=TrainingRun.State.CANCELLED, error="cancelled by an operator")
        return "cancelled"
    except Exception as exc:
        log.error("training run %s failed\n%s", run.pk, traceback.format_exc())
        jobs.training_run_finish(run.pk, task_id, state=TrainingRun.State.FAILED,
                                 error=f"{type(exc).__name__}: {exc}", log_text=traceback.format_exc())
        return "failed"
