"""What an operator watches while a training run works: its row plus the files the trainer writes into the run's
output directory (imagegen.offline.train: `losses.jsonl` one line per log interval, `samples/step_NNNNNN.png` every
`sample_every` steps, and at the end `samples.png` and `loss_plot.png`).

Read by the web process as plain files (no torch): the training worker and the web process share MODEL_DIR (the
embedded stack and docker-compose's volume). Only these fixed names inside the run's own directory are ever read,
so nothing a request says can point elsewhere."""
from __future__ import annotations

import json
from pathlib import Path

from .models import ModelVersion, TrainingRun

LOSS_HISTORY_MAX_POINTS = 400  # a plot wider than the page gains nothing; longer histories are thinned evenly
LOG_TAIL_LINES = 30
IMAGES = {"samples": "samples.png", "loss_plot": "loss_plot.png"}


def _out_dir(run: TrainingRun) -> Path | None:
    return Path(run.output_dir) if run.output_dir else None


def training_run_image_path(run: TrainingRun, kind: str) -> Path | None:
    """The PNG `kind` of the run: `samples` (the final grid, else the latest one written during training),
    `loss_plot` (written at the end). None when it does not exist (yet)."""
    out = _out_dir(run)
    if out is None or kind not in IMAGES:
        return None
    path = out / IMAGES[kind]
    if path.is_file():
        return path
    if kind == "samples":
        steps = sorted((out / "samples").glob("step_*.png")) if (out / "samples").is_dir() else []
        return steps[-1] if steps else None
    return None


def training_run_loss_history(run: TrainingRun) -> list[dict]:
    out = _out_dir(run)
    if out is None:
        return []
    try:
        lines = (out / "losses.jsonl").read_text().splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line being written right now
            continue
    if len(rows) > LOSS_HISTORY_MAX_POINTS:
        stride = len(rows) / LOSS_HISTORY_MAX_POINTS
        rows = [rows[int(i * stride)] for i in range(LOSS_HISTORY_MAX_POINTS)] + [rows[-1]]
    return rows


def _log_tail(run: TrainingRun, history: list[dict]) -> list[str]:
    if run.log:
        return run.log.splitlines()[-LOG_TAIL_LINES:]
    return [f"step {r.get('step')}: " + ", ".join(f"{k} {v:.4g}" for k, v in r.items()
                                                   if k not in ("step", "epoch") and isinstance(v, (int, float)))
            for r in history[-LOG_TAIL_LINES:]]


def training_run_progress(run: TrainingRun) -> dict:
    """The run's state for the console's live view (polled every few seconds)."""
    history = training_run_loss_history(run)
    version = ModelVersion.objects.filter(training_run=run).order_by("-id").first()
    images = {kind: (p.stat().st_mtime_ns if (p := training_run_image_path(run, kind)) else None) for kind in IMAGES}
    return {
        "id": run.pk, "state": run.state, "progress": round(run.progress, 4), "step": run.step,
        "total_steps": run.total_steps, "last_losses": run.last_losses, "error": run.error,
        "cancel_requested": run.cancel_requested, "finished": run.state in ("done", "failed", "cancelled"),
        "loss_history": history, "log_tail": _log_tail(run, history),
        "images": images,  # modification stamps: the page reloads an image only when it changed
        "version": None if version is None else {"id": version.pk, "label": version.label,
                                                 "is_active": version.is_active},
    }
