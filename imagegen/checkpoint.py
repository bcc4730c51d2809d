"""Checkpoint files: the small shipped generator checkpoint and the larger resumable training state.

Two files, on purpose:

* ``save_checkpoint`` / ``load_checkpoint``: ONE file with everything inference needs and nothing else: G1 and G2
  weights (optionally float16, ~17 MB for the default 64 px model), the ``GANConfig`` to rebuild them, the training
  data fingerprint, the step count and evaluation metrics. This is what ships as ``imagegen/checkpoints/default.pt``.
* ``save_training_state`` / ``load_training_state``: ``training_state.pt`` in the run folder, with the
  discriminators, the optimisers and the RNG states, so a run can resume exactly. Several times larger (Adam keeps
  two moments per parameter) and useless at inference, so it never travels with the generator checkpoint.

Both are plain ``torch.save`` dicts of tensors and primitives, loaded with ``weights_only=True`` (no arbitrary
pickle code runs on load), each tagged with a ``kind`` and a ``format_version`` that are checked before anything
else is trusted. Every problem with a file surfaces as ``CheckpointError`` with a message saying which file and why.
"""

from __future__ import annotations

import datetime as _dt
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imagegen.networks import GANConfig, build_generators

FORMAT_VERSION = 1
KIND = "imagegen.generators"
TRAINING_STATE_KIND = "imagegen.training_state"
TRAINING_STATE_FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupt, of another kind or of an unsupported format version."""


@dataclass
class Checkpoint:
    """A loaded generator checkpoint. Weights are float32 state dicts on CPU, whatever precision was stored."""

    config: GANConfig
    g1_state: dict[str, torch.Tensor]
    g2_state: dict[str, torch.Tensor]
    step: int = 0
    data_fingerprint: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    stored_dtype: str = "float32"
    created: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def build(self) -> tuple[nn.Module, nn.Module]:
        """Rebuild G1 and G2 (float32, CPU, eval mode) with the stored weights."""
        g1, g2 = build_generators(self.config)
        try:
            g1.load_state_dict(self.g1_state)
            g2.load_state_dict(self.g2_state)
        except RuntimeError as e:
            raise CheckpointError(f"checkpoint weights do not fit its own config {self.config}: {e}") from e
        return g1.eval(), g2.eval()


def _atomic_save(obj: Any, path: Path) -> None:
    """Write to a temp file in the same folder, then rename: a crash mid-save never leaves a truncated file where
    a good one was (matters for checkpoint_every and for the on_progress stop path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the web/worker processes may run as another user
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _state_dict(net_or_state: nn.Module | dict, half: bool) -> dict[str, torch.Tensor]:
    state = net_or_state.state_dict() if isinstance(net_or_state, nn.Module) else net_or_state
    out = {}
    for k, v in state.items():
        v = v.detach().to("cpu")
        if half and v.is_floating_point():
            v = v.half()  # weights are N(0, 0.02)-scale: well inside float16's range, ~3 significant digits
        out[k] = v.clone()
    return out


def save_checkpoint(path: str | os.PathLike, g1: nn.Module | dict, g2: nn.Module | dict, config: GANConfig, *,
                    step: int = 0, data_fingerprint: str | None = None, metrics: dict[str, float] | None = None,
                    half: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """Write the generator checkpoint. ``half=True`` stores float16 weights (half the size); they load as float32.

    ``extra`` is for small JSON-like facts (e.g. the TrainConfig as a dict); it must hold only primitives.
    """
    path = Path(path)
    payload = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "gan_config": config.to_dict(),
        "g1": _state_dict(g1, half),
        "g2": _state_dict(g2, half),
        "stored_dtype": "float16" if half else "float32",
        "step": int(step),
        "data_fingerprint": data_fingerprint,
        "metrics": {k: float(v) for k, v in (metrics or {}).items()},
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "extra": dict(extra or {}),
    }
    _atomic_save(payload, path)
    return path


def _read(path: str | os.PathLike, kind: str, version: int, what: str) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle, zip and torch errors vary by version; all mean "not a readable torch file"
        raise CheckpointError(f"{path} is not a readable {what} (corrupt, truncated or not a torch file): "
                              f"{type(e).__name__}: {str(e)[:200]}") from e
    if not isinstance(payload, dict) or "kind" not in payload:
        raise CheckpointError(f"{path} is a torch file but not an imagegen {what} (no 'kind' marker)")
    if payload["kind"] != kind:
        raise CheckpointError(f"{path} is a {payload['kind']!r} file, expected a {kind!r} {what}")
    found = payload.get("format_version")
    if found != version:
        raise CheckpointError(f"{path} has {what} format version {found!r}; this code reads version {version}. "
                              f"Re-export it with a matching imagegen version or retrain.")
    return payload


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read and validate a generator checkpoint (see module docstring). Raises ``CheckpointError``."""
    payload = _read(path, KIND, FORMAT_VERSION, "generator checkpoint")
    try:
        config = GANConfig.from_dict(payload["gan_config"])
        g1 = {k: v.float() if v.is_floating_point() else v for k, v in payload["g1"].items()}
        g2 = {k: v.float() if v.is_floating_point() else v for k, v in payload["g2"].items()}
        ckpt = Checkpoint(config=config, g1_state=g1, g2_state=g2, step=int(payload["step"]),
                          data_fingerprint=payload.get("data_fingerprint"), metrics=dict(payload.get("metrics") or {}),
                          stored_dtype=payload.get("stored_dtype", "float32"), created=payload.get("created"),
                          extra=dict(payload.get("extra") or {}))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CheckpointError(f"{path} is an incomplete or malformed generator checkpoint: "
                              f"{type(e).__name__}: {e}") from e
    return ckpt


def save_training_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write the resumable training state (``state`` is built by ``imagegen.offline.train``); tags it with kind and
    version."""
    payload = {"kind": TRAINING_STATE_KIND, "format_version": TRAINING_STATE_FORMAT_VERSION, **state}
    _atomic_save(payload, Path(path))
    return Path(path)


def load_training_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a training state written by ``save_training_state``. Raises ``CheckpointError``."""
    return _read(path, TRAINING_STATE_KIND, TRAINING_STATE_FORMAT_VERSION, "training state")
