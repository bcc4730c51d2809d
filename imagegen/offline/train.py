"""Training loop for the two-stage GAN (see ``imagegen.networks`` for the design).

Per batch, in pix2pix's order (set input -> forward -> update D -> update G):

1. forward: ``g1 = G1(photo)``; ``g2 = G2(combine(photo, g1.detach()))``
2. update D_real (stock vs g1), D_assoc1 (``association_pairs`` with g1), D_assoc2 (the same with g2)
3. update G1 from D_real + D_assoc1 adversarial losses + ``g1_recon_weight`` * L1(g1, stock)
4. update G2 from D_assoc2 adversarial loss + ``l2_weight`` * L2(g2, stock)

Choices, and why:

* LSGAN (least-squares) losses, as in pix2pix's ``gan_mode="lsgan"`` / CycleGAN: the gradient does not vanish for
  confidently-rejected fakes, and training is noticeably steadier than with BCE on tiny data sets.
* ``g1_recon_weight`` = 10 (L1). The design trains G1 adversarially only; with a few hundred pairs a purely
  adversarial G1 oscillates and often collapses to one texture, which then leaves G2 with nothing useful to refine.
  A modest L1 term anchors G1 to the target while leaving the adversarial terms in charge of sharpness. Set it to 0
  for the pure design.
* ``l2_weight`` = 100: pix2pix's lambda for its reconstruction term. With LSGAN losses around 0.25-1 and pixel errors
  around 0.01-0.1 (images in [-1, 1]), 100 makes reconstruction and realism comparable in size.
* G2 gets G1's output *detached*: G2's strong L2 term would otherwise reach into G1 and turn it into whatever
  blurry intermediate suits G2, undoing G1's own objective. Detaching keeps the stages separately meaningful (G1's
  output is shown to users as "stage 1"), and makes the step cheaper (no backward through G1 for the G2 loss).
* Garment conditioning (``arch="v2"``, ``GANConfig.garments``): every network gets each row's garment type. The
  association Ds judge each pair against its *photo's* type (``association_garments``), G2 gets the same type as G1.
  Data sets give the type as ``item["garment"]`` (a name; ``PairDataset`` and ``SyntheticPairs`` do).
* Determinism: on CPU, the same seed gives the same losses (seeded RNGs, a data order derived from
  (seed, epoch), ``torch.use_deterministic_algorithms``). On CUDA, speed wins (cuDNN autotuning, optional bf16
  autocast), so runs are close but not bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import nn
from torchvision.utils import save_image
from tqdm.auto import tqdm

from imagegen.checkpoint import load_checkpoint, load_training_state, save_checkpoint, save_training_state
from imagegen.conditioning import DEFAULT_GARMENTS
from imagegen.networks import (ARCHS, GANConfig, association_garments, association_pairs, build_discriminators,
                               build_generators, combine)
from imagegen.offline.data import read_manifest
from imagegen.offline.pair_dataset import PairDataset
from imagegen.offline.perceptual import Lite0Perceptual
from imagegen.warping import flow_tv, warp_pyramid_l1

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
TRAINING_STATE_NAME = "training_state.pt"
LOG_NAME = "losses.jsonl"
SAMPLES_NAME = "samples.png"
LOSS_PLOT_NAME = "loss_plot.png"
CONFIG_NAME = "config.json"


@dataclass
class TrainConfig:
    # --- the model (becomes the GANConfig stored in the checkpoint) ---
    image_size: int = 64
    base_width: int = 32
    disc_width: int = 32
    n_disc_layers: int = 3
    norm: str = "instance"
    arch: str = "v1"
    """The named architecture (``imagegen.networks.ARCHS``): "v1", the shipped model's, or "v2": garment-type FiLM
    in G1, G2 and the three Ds, resize-conv up-sampling, spectral-normalised Ds. One switch, so a run is either
    one or the other and its checkpoint says which (``GANConfig.arch``)."""
    # --- schedule ---
    batch_size: int = 16
    steps: int | None = None
    """Total optimisation steps. When None, ``epochs`` passes over the data set are run instead."""
    epochs: int = 100
    lr: float = 2e-4
    beta1: float = 0.5
    """Adam's beta1 = 0.5 (not 0.9): the GAN recipe since DCGAN; less momentum keeps the D/G game from overshooting."""
    # --- loss weights (see the module docstring for why these defaults) ---
    g1_recon_weight: float = 10.0
    l2_weight: float = 100.0
    fm_weight: float = 0.0
    """Feature matching (pix2pixHD): L1 between the discriminators' inner activations on the real image (or pair)
    and on the generated one, for G1 through D_real and D_assoc1, for G2 through D_assoc2. 0 (the default, and the
    shipped model's recipe) leaves it out; pix2pixHD uses 10. It is what lets stripes and checks survive beside
    the pixel losses, which are minimised by their blurred average (ablation: ``docs/generator_v2/README.md``)."""
    warp_weight: float = 0.0
    """Flow G1 (arch "v3") only: weight of ``imagegen.warping.warp_pyramid_l1``, the garment-weighted L1 of the
    photo warped alone (before the visibility mask) at 4 scales: what teaches the warp to bring the garment's own
    pixels over. The CLI's v3 default is 10."""
    tv_weight: float = 0.0
    """Flow G1 only: weight of the flow's total variation in pixels (``imagegen.warping.flow_tv``), so the warp
    bends the garment without tearing it. The CLI's v3 default is 1 (at 0.1 the flow of a first run's 250th step
    moved neighbouring pixels 1.9 px apart on average and tore stripes)."""
    perceptual_weight: float = 0.0
    """L1 between ImageNet EfficientNet-Lite0 features of the generated and the real catalogue image
    (``imagegen.offline.perceptual``), for G1 and G2; 0 leaves it out."""
    levels: int = 0
    """U-Net levels (``GANConfig.levels``); 0 derives them from ``image_size``. A 64 px leg of a 128 px run sets 6."""
    init: str | None = None
    """A generator checkpoint whose G1/G2 weights start this run (the discriminators and optimisers start fresh):
    the next leg of progressive training (64 -> 128 px), or a committed milestone continued on a fresh machine.
    Its architecture must match this run's but for ``image_size``."""
    # --- runtime ---
    seed: int = 0
    device: str = "auto"
    """"auto" -> cuda if available else cpu; or any torch device string."""
    amp: bool = False
    """bfloat16 autocast (no loss scaler needed, unlike float16), on CUDA and on CPU (issue #24: a 128 px v2 step
    of 16 pairs on this project's AVX512-BF16 CPU, 2.17 -> 1.36 s). Losses, the warp's grid and sampling stay
    float32."""
    channels_last: bool = False
    """CUDA only: NHWC memory layout, faster convolutions on tensor cores. Ignored on CPU."""
    num_workers: int = 0
    """DataLoader worker processes. 0 is right for in-memory or cached data sets; raise it when items decode JPEGs."""
    # --- outputs ---
    log_every: int = 10
    """Steps between log lines, progress-bar updates and ``on_progress`` calls (the Celery heartbeat)."""
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_checkpoints: bool = False
    """Also keep a copy of the generator checkpoint of every ``checkpoint_every`` step as
    ``checkpoints/step_NNNNNN.pt`` (a long run's milestones; an ablation reads its equal-step point from them)."""
    half: bool = False
    """Store the generator checkpoint's weights as float16 (half the file size; loads back as float32)."""
    resume: bool = False
    """Continue from ``out_dir/training_state.pt`` if it exists (else start fresh); extends to a larger ``steps``."""
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {tuple(ARCHS)}, got {self.arch!r}")

    def gan_config(self) -> GANConfig:
        return GANConfig.for_arch(self.arch, image_size=self.image_size, base_width=self.base_width,
                                  disc_width=self.disc_width, n_disc_layers=self.n_disc_layers, norm=self.norm,
                                  levels=self.levels)


@dataclass
class TrainResult:
    out_dir: Path
    checkpoint_path: Path
    training_state_path: Path
    step: int
    total_steps: int
    losses: dict[str, float]
    """The last logged losses (means over the last log interval)."""
    history: list[dict[str, float]]
    """Every logged line of ``losses.jsonl``, including those of the run this one resumed."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Validation metrics at the end (``val_l2``, ``val_l1``, ``val_l2_stage1``), if a val_set was given."""
    sample_grid_path: Path | None = None
    loss_plot_path: Path | None = None
    log_path: Path | None = None
    data_fingerprint: str | None = None
    resumed_from: int | None = None
    stopped_early: bool = False
    stop_reason: str | None = None
    elapsed_s: float = 0.0
    pairs_per_s: float = 0.0


# ----------------------------------------------------------------------------------------------------------------
# One training step: the part the benchmark times.

def _gan_loss(pred: torch.Tensor, target: float | torch.Tensor) -> torch.Tensor:
    """LSGAN: mean squared distance of every patch logit to its target (1 real/associated, 0 fake/not)."""
    pred = pred.float()
    if isinstance(target, torch.Tensor):  # per-sample labels [M] -> broadcast over the patch map
        target = target.to(pred.device, pred.dtype).view(-1, *([1] * (pred.dim() - 1))).expand_as(pred)
    else:
        target = torch.full_like(pred, float(target))
    return F.mse_loss(pred, target)


def _feature_matching(d: nn.Module, real: torch.Tensor, fake: torch.Tensor, garment: torch.Tensor | None
                      ) -> torch.Tensor:
    """Mean over D's inner layers of L1(features(fake), features(real)); the real side carries no gradient."""
    with torch.no_grad():
        targets = d.features(real, garment)
    feats = d.features(fake, garment)
    return sum(F.l1_loss(f.float(), t.float()) for f, t in zip(feats, targets)) / len(feats)


def _set_requires_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


class Trainer:
    """The six networks, their three optimisers and ``train_step``. ``train()`` adds data, logging and files."""

    def __init__(self, gan_cfg: GANConfig, cfg: TrainConfig, device: torch.device):
        self.gan_cfg, self.cfg, self.device = gan_cfg, cfg, device
        self.g1, self.g2 = build_generators(gan_cfg)
        self.d = nn.ModuleDict(build_discriminators(gan_cfg))
        self.cuda = device.type == "cuda"
        self.memory_format = torch.channels_last if (self.cuda and cfg.channels_last) else torch.contiguous_format
        for net in (self.g1, self.g2, self.d):
            net.to(device=device, memory_format=self.memory_format).train()
        betas = (cfg.beta1, 0.999)
        self.opt_g1 = torch.optim.Adam(self.g1.parameters(), lr=cfg.lr, betas=betas)
        self.opt_g2 = torch.optim.Adam(self.g2.parameters(), lr=cfg.lr, betas=betas)
        # One Adam over all three Ds is the same as three Adams (Adam is per-parameter): their losses are summed.
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=betas)
        self.flow = gan_cfg.g1 == "flow"
        self.perceptual = None
        if cfg.perceptual_weight:
            self.perceptual = Lite0Perceptual().to(device)

    def _autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp)

    def train_step(self, photo: torch.Tensor, stock: torch.Tensor, item_index: torch.Tensor,
                   garment: Sequence[str] | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """One full step (forward, all D updates, G1 and G2 updates). Returns detached scalar losses (no sync).

        ``garment``: each row's garment type (names, or indices into ``GANConfig.garments``); required by a
        conditioned (v2) model, ignored by v1."""
        photo = photo.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        stock = stock.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        item_index = torch.as_tensor(item_index).to(self.device)
        gi = self.gan_cfg.garment_indices(garment, photo.shape[0], self.device)  # None when unconditioned
        pair_gi = association_garments(gi, item_index, with_fake=True)  # the rows of association_pairs' batch
        d_real, d_a1, d_a2 = self.d["real"], self.d["assoc1"], self.d["assoc2"]

        # 1. forward both stages once; the D update uses detached copies, the G updates the graphs.
        with self._autocast():
            parts = self.g1.parts(photo, gi) if self.flow else None
            g1 = parts["out"] if self.flow else self.g1(photo, gi)
            g2 = self.g2(combine(photo, g1.detach()), gi)

        # 2. discriminators
        _set_requires_grad(self.d, True)
        self.opt_d.zero_grad(set_to_none=True)
        with self._autocast():
            loss_d_real = 0.5 * (_gan_loss(d_real(stock, gi), 1.0) + _gan_loss(d_real(g1.detach(), gi), 0.0))
            pairs, labels = association_pairs(photo, stock, g1.detach(), item_index)
            loss_d_a1 = _gan_loss(d_a1(pairs, pair_gi), labels)
            pairs, labels = association_pairs(photo, stock, g2.detach(), item_index)
            loss_d_a2 = _gan_loss(d_a2(pairs, pair_gi), labels)
        (loss_d_real + loss_d_a1 + loss_d_a2).backward()
        self.opt_d.step()

        # 3./4. generators, against the just-updated (and now frozen) discriminators
        _set_requires_grad(self.d, False)
        self.opt_g1.zero_grad(set_to_none=True)
        with self._autocast():
            g1_adv_real = _gan_loss(d_real(g1, gi), 1.0)
            g1_adv_assoc = _gan_loss(d_a1(combine(photo, g1), gi), 1.0)
            g1_recon = F.l1_loss(g1.float(), stock)
            loss_g1 = g1_adv_real + g1_adv_assoc + self.cfg.g1_recon_weight * g1_recon
            extra: dict[str, torch.Tensor] = {}
            if self.flow:
                extra["g1_warp_l1"] = warp_pyramid_l1(photo, parts["grid"], stock)
                extra["g1_flow_tv"] = flow_tv(parts["flow"])
                loss_g1 = loss_g1 + self.cfg.warp_weight * extra["g1_warp_l1"] + self.cfg.tv_weight * extra["g1_flow_tv"]
            if self.perceptual is not None:
                extra["g1_perc"] = self.perceptual(g1, stock)
                loss_g1 = loss_g1 + self.cfg.perceptual_weight * extra["g1_perc"]
            if self.cfg.fm_weight:
                g1_fm = 0.5 * (_feature_matching(d_real, stock, g1, gi)
                               + _feature_matching(d_a1, combine(photo, stock), combine(photo, g1), gi))
                loss_g1 = loss_g1 + self.cfg.fm_weight * g1_fm
        loss_g1.backward()
        self.opt_g1.step()

        self.opt_g2.zero_grad(set_to_none=True)
        with self._autocast():
            g2_adv = _gan_loss(d_a2(combine(photo, g2), gi), 1.0)
            g2_l2 = F.mse_loss(g2.float(), stock)
            loss_g2 = g2_adv + self.cfg.l2_weight * g2_l2
            if self.perceptual is not None:
                extra["g2_perc"] = self.perceptual(g2, stock)
                loss_g2 = loss_g2 + self.cfg.perceptual_weight * extra["g2_perc"]
            if self.cfg.fm_weight:
                g2_fm = _feature_matching(d_a2, combine(photo, stock), combine(photo, g2), gi)
                loss_g2 = loss_g2 + self.cfg.fm_weight * g2_fm
        loss_g2.backward()
        self.opt_g2.step()

        losses = dict(d_real=loss_d_real, d_assoc1=loss_d_a1, d_assoc2=loss_d_a2, g1_adv_real=g1_adv_real,
                      g1_adv_assoc=g1_adv_assoc, g1_recon_l1=g1_recon, g1_total=loss_g1, g2_adv=g2_adv,
                      g2_l2=g2_l2, g2_total=loss_g2)
        if self.cfg.fm_weight:
            losses.update(g1_fm=g1_fm, g2_fm=g2_fm)
        losses.update(extra)
        return {k: v.detach().float() for k, v in losses.items()}

    @torch.inference_mode()
    def predict(self, photo: torch.Tensor, garment: Sequence[str] | torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """G1 and G2 outputs in eval mode (then back to train mode), float32 on CPU. ``garment`` as in
        ``train_step``."""
        self.g1.eval(), self.g2.eval()
        try:
            photo = photo.to(self.device).contiguous(memory_format=self.memory_format)
            gi = self.gan_cfg.garment_indices(garment, photo.shape[0], self.device)
            with self._autocast():
                g1 = self.g1(photo, gi)
                g2 = self.g2(combine(photo, g1), gi)
            return g1.float().cpu(), g2.float().cpu()
        finally:
            self.g1.train(), self.g2.train()

    def state_dict(self) -> dict[str, Any]:
        return {"g1": self.g1.state_dict(), "g2": self.g2.state_dict(), "d": self.d.state_dict(),
                "opt_g1": self.opt_g1.state_dict(), "opt_g2": self.opt_g2.state_dict(),
                "opt_d": self.opt_d.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g1.load_state_dict(state["g1"])
        self.g2.load_state_dict(state["g2"])
        self.d.load_state_dict(state["d"])
        self.opt_g1.load_state_dict(state["opt_g1"])
        self.opt_g2.load_state_dict(state["opt_g2"])
        self.opt_d.load_state_dict(state["opt_d"])


def init_weights_from(trainer: Trainer, path: str | Path) -> None:
    """Load a generator checkpoint's G1/G2 weights into ``trainer`` (``TrainConfig.init``). Its architecture must be
    this run's but for the image size (convolutions are size-agnostic; ``GANConfig.levels`` keeps the depth)."""
    ckpt = load_checkpoint(path)
    mine = {**trainer.gan_cfg.to_dict(), "image_size": None}
    theirs = {**ckpt.config.to_dict(), "image_size": None}
    if ckpt.config.unet_levels != trainer.gan_cfg.unet_levels or mine | {"levels": 0} != theirs | {"levels": 0}:
        raise ValueError(f"cannot start from {path}: it is {ckpt.config.to_dict()}, this run is "
                         f"{trainer.gan_cfg.to_dict()} (only the image size may differ)")
    trainer.g1.load_state_dict(ckpt.g1_state)
    trainer.g2.load_state_dict(ckpt.g2_state)
    log.info("G1/G2 initialised from %s (step %d, %d px)", path, ckpt.step, ckpt.config.image_size)


# ----------------------------------------------------------------------------------------------------------------
# Helpers: device, seeding, data order, fingerprint, outputs.

def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    torch.manual_seed(seed)  # also seeds CUDA


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]), "gauss": float(np_state[4])}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches only (constant batch size = constant cost and a full set of negatives for D_assoc), unless the
    data set is smaller than one batch, in which case the one short batch is the epoch."""
    return max(1, n // batch_size)


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The index batches of one epoch: a permutation derived from (seed, epoch) alone, so a resumed run can
    rebuild exactly the order it would have seen without replaying earlier epochs."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    perm = torch.randperm(n, generator=gen).tolist()
    return [perm[i * batch_size:(i + 1) * batch_size] for i in range(steps_per_epoch(n, batch_size))]


def data_fingerprint(dataset: Any) -> str:
    """The dataset's own ``fingerprint`` (attribute or method) if it has one; else a hash of its length and first
    items. Stored in checkpoints so a model can be traced to (and checked against) the data it was trained on."""
    fp = getattr(dataset, "fingerprint", None)
    if callable(fp):
        fp = fp()
    if fp:
        return str(fp)
    h = hashlib.sha256(f"len={len(dataset)}".encode())
    for i in range(min(4, len(dataset))):
        item = dataset[i]
        for key in ("photo", "stock"):
            h.update(item[key].detach().cpu().contiguous().float().numpy().tobytes())
        h.update(str(int(item["item_index"])).encode())
    return "sha256:" + h.hexdigest()[:32]


def _sample_batch(dataset: Any, k: int = 8) -> tuple[torch.Tensor, torch.Tensor, list[str] | None]:
    """The first ``k`` items as (photos, stocks, garment names or None when the data set has none)."""
    items = [dataset[i] for i in range(min(k, len(dataset)))]
    garments = [it["garment"] for it in items] if all("garment" in it for it in items) else None
    return torch.stack([it["photo"] for it in items]), torch.stack([it["stock"] for it in items]), garments


def save_sample_grid(path: Path, photo: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor,
                     stock: torch.Tensor) -> Path:
    """One row per sample, columns photo | G1 | G2 | ground truth."""
    rows = torch.stack([photo, g1, g2, stock], dim=1).flatten(0, 1)  # [4k, 3, H, W], row-major per sample
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(rows.float().cpu() * 0.5 + 0.5, path, nrow=4, padding=2, pad_value=1.0)
    return path


def save_loss_plot(path: Path, history: list[dict[str, float]]) -> Path:
    """Three panels: discriminator losses, generator adversarial losses, reconstruction losses (log scale).

    Uses matplotlib's object API with the Agg canvas directly, so it works headless and never changes the
    process-wide pyplot backend of whoever imported us.
    """
    fig = Figure(figsize=(12, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    panels = [("discriminators (LSGAN)", ["d_real", "d_assoc1", "d_assoc2"], False),
              ("generators, adversarial", ["g1_adv_real", "g1_adv_assoc", "g2_adv"], False),
              ("reconstruction", ["g1_recon_l1", "g2_l2", "g1_warp_l1", "g1_perc", "g2_perc"], True)]
    steps = [h["step"] for h in history]
    for i, (title, keys, log_y) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        for key in keys:
            if not any(key in h for h in history):
                continue
            ys = [h.get(key, math.nan) for h in history]
            ax.plot(steps, ys, label=key, linewidth=1)
        if log_y and history:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def _read_history(path: Path, up_to_step: int | None = None) -> list[dict[str, float]]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if up_to_step is None or r["step"] <= up_to_step]


@torch.inference_mode()
def evaluate_l2(trainer: Trainer, dataset: Any, batch_size: int = 32) -> dict[str, float]:
    """Mean per-pixel L2 (and L1) of G1 and G2 to the ground truth over a data set, images in [-1, 1]."""
    sums = {"val_l2_stage1": 0.0, "val_l2": 0.0, "val_l1": 0.0}
    n = 0
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        photo = torch.stack([it["photo"] for it in items])
        stock = torch.stack([it["stock"] for it in items]).float()
        g1, g2 = trainer.predict(photo, [it["garment"] for it in items] if trainer.gan_cfg.conditioned else None)
        b = len(items)
        sums["val_l2_stage1"] += F.mse_loss(g1, stock).item() * b
        sums["val_l2"] += F.mse_loss(g2, stock).item() * b
        sums["val_l1"] += F.l1_loss(g2, stock).item() * b
        n += b
    return {k: v / max(n, 1) for k, v in sums.items()}


# ----------------------------------------------------------------------------------------------------------------
# The loop.

def train(config: TrainConfig, train_set: Sequence[dict], out_dir: str | Path, val_set: Sequence[dict] | None = None,
          on_progress: Callable[[int, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train (or resume) a two-stage GAN on ``train_set``; write everything into ``out_dir``.

    ``out_dir`` gets: ``checkpoint.pt`` (the small generator checkpoint, see ``imagegen.checkpoint``),
    ``training_state.pt`` (for ``resume``), ``losses.jsonl`` (one JSON line per log interval), ``samples.png``
    (photo | G1 | G2 | ground truth, final) and ``samples/step_NNNNNN.png`` every ``sample_every`` steps,
    ``loss_plot.png`` and ``config.json``.

    ``on_progress(step, total_steps, losses)`` is called every ``log_every`` steps and at the last step. If it
    raises, training stops after the current step, everything is saved as at a normal end, and the result has
    ``stopped_early=True`` and the exception text in ``stop_reason`` (a Celery task uses this to cancel cleanly).
    """
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n = len(train_set)
    if n == 0:
        raise ValueError("train_set is empty")
    first = train_set[0]
    expected = (3, config.image_size, config.image_size)
    for key in ("photo", "stock"):
        if tuple(first[key].shape) != expected:
            raise ValueError(f"train_set[0][{key!r}] has shape {tuple(first[key].shape)}, expected {expected} "
                             f"(TrainConfig.image_size={config.image_size})")

    device = resolve_device(config.device)
    gan_cfg = config.gan_config()
    if gan_cfg.conditioned:  # fail before any work, not at the first batch or the final evaluation
        for name, dataset in (("train_set", train_set), ("val_set", val_set)):
            if dataset is not None and len(dataset) > 0 and "garment" not in dataset[0]:
                raise ValueError(f"arch {config.arch!r} is conditioned on the garment type, but {name} items have "
                                 f"no 'garment' ({', '.join(gan_cfg.garments)})")
    fingerprint = data_fingerprint(train_set)
    spe = steps_per_epoch(n, config.batch_size)
    total_steps = config.steps if config.steps is not None else config.epochs * spe
    ckpt_path, state_path, log_path = out_dir / CHECKPOINT_NAME, out_dir / TRAINING_STATE_NAME, out_dir / LOG_NAME

    prev_deterministic = (torch.are_deterministic_algorithms_enabled(),
                          torch.is_deterministic_algorithms_warn_only_enabled())
    prev_benchmark = torch.backends.cudnn.benchmark
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.backends.cudnn.benchmark = True
    try:
        seed_everything(config.seed)
        trainer = Trainer(gan_cfg, config, device)
        step, resumed_from = 0, None
        if config.resume and state_path.exists():
            state = load_training_state(state_path)
            # Normalised through GANConfig: a state saved before a config field existed lacks it (= its default).
            if GANConfig.from_dict(state["gan_config"]).to_dict() != gan_cfg.to_dict():
                raise ValueError(f"cannot resume: {state_path} was trained with {state['gan_config']}, "
                                 f"this run asks for {gan_cfg.to_dict()}")
            if state["batch_size"] != config.batch_size or state["seed"] != config.seed:
                raise ValueError("cannot resume with a different batch_size or seed (the data order would change)")
            if state.get("data_fingerprint") != fingerprint:
                log.warning("resuming on different data: fingerprint %s, was %s", fingerprint,
                            state.get("data_fingerprint"))
            trainer.load_state_dict(state["trainer"])
            _set_rng_state(state["rng"])
            step = resumed_from = int(state["step"])
            log.info("resumed from %s at step %d", state_path, step)
        elif config.resume:
            log.info("resume requested but %s does not exist: starting fresh", state_path)
        if resumed_from is None and config.init:
            init_weights_from(trainer, config.init)

        history = _read_history(log_path, up_to_step=step) if resumed_from is not None else []
        log_path.write_text("".join(json.dumps(r) + "\n" for r in history))  # drop lines past the saved state
        (out_dir / CONFIG_NAME).write_text(json.dumps({"train": asdict(config), "gan": gan_cfg.to_dict(),
                                                       "data_fingerprint": fingerprint, "n_train": n}, indent=2))
        sample_set = val_set if val_set is not None and len(val_set) > 0 else train_set
        sample_photo, sample_stock, sample_garment = _sample_batch(sample_set)

        def write_samples(path: Path) -> Path:
            g1, g2 = trainer.predict(sample_photo, sample_garment)
            return save_sample_grid(path, sample_photo, g1, g2, sample_stock)

        def save_all(metrics: dict[str, float] | None = None) -> None:
            save_checkpoint(ckpt_path, trainer.g1, trainer.g2, gan_cfg, step=step, data_fingerprint=fingerprint,
                            metrics=metrics, half=config.half,
                            extra={"label": f"{out_dir.resolve().name}-step{step}", "train_config": asdict(config)})
            save_training_state(state_path, {"trainer": trainer.state_dict(), "rng": _rng_state(), "step": step,
                                             "gan_config": gan_cfg.to_dict(), "batch_size": config.batch_size,
                                             "seed": config.seed, "data_fingerprint": fingerprint})

        bar = tqdm(total=total_steps, initial=step, disable=not config.progress_bar, dynamic_ncols=True,
                   desc="train", unit="step")
        sums: dict[str, torch.Tensor] = {}
        since_log, pairs_seen, t_loop = 0, 0, time.perf_counter()
        stopped_early, stop_reason = False, None
        last_losses = {k: v for k, v in history[-1].items() if k not in ("step", "epoch")} if history else {}
        pin = device.type == "cuda"

        try:
            while step < total_steps and not stopped_early:
                epoch, offset = divmod(step, spe)
                batches = epoch_batches(n, config.batch_size, config.seed, epoch)[offset:]
                batches = batches[: total_steps - step]
                loader = torch.utils.data.DataLoader(
                    train_set, batch_sampler=batches, num_workers=config.num_workers, pin_memory=pin,
                    generator=torch.Generator().manual_seed(config.seed + epoch))  # seeds the workers only
                for batch in loader:
                    losses = trainer.train_step(batch["photo"], batch["stock"], batch["item_index"],
                                                batch.get("garment"))
                    step += 1
                    pairs_seen += batch["photo"].shape[0]
                    since_log += 1
                    for k, v in losses.items():
                        sums[k] = sums[k] + v if k in sums else v.clone()
                    bar.update(1)

                    if step % config.log_every == 0 or step == total_steps:
                        last_losses = {k: round(v.item() / since_log, 6) for k, v in sums.items()}
                        row = {"step": step, "epoch": epoch, **last_losses}
                        history.append(row)
                        with log_path.open("a") as f:
                            f.write(json.dumps(row) + "\n")
                        bar.set_postfix(D=f"{last_losses['d_real']:.3f}", G1=f"{last_losses['g1_total']:.3f}",
                                        G2l2=f"{last_losses['g2_l2']:.4f}", refresh=False)
                        sums, since_log = {}, 0
                        if on_progress is not None:
                            try:
                                on_progress(step, total_steps, dict(last_losses))
                            except Exception as e:  # the callback asked us to stop: save and return, not crash
                                stopped_early, stop_reason = True, f"{type(e).__name__}: {e}"
                                log.warning("training stopped by on_progress at step %d: %s", step, stop_reason)
                    if config.sample_every and step % config.sample_every == 0:
                        write_samples(out_dir / "samples" / f"step_{step:06d}.png")
                    if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total_steps:
                        save_all()
                        if config.keep_checkpoints:  # the small generator file only: milestones, ablations
                            keep = out_dir / "checkpoints" / f"step_{step:06d}.pt"
                            keep.parent.mkdir(exist_ok=True)
                            shutil.copyfile(ckpt_path, keep)
                    if stopped_early:
                        break
        except KeyboardInterrupt:  # Ctrl-C in the CLI: keep what was learnt (the interrupted step may be half-done)
            stopped_early, stop_reason = True, "KeyboardInterrupt"
            log.warning("interrupted at step %d: saving", step)
        bar.close()
        train_time = time.perf_counter() - t_loop

        metrics = evaluate_l2(trainer, val_set) if val_set is not None and len(val_set) > 0 else {}
        save_all(metrics)
        grid = write_samples(out_dir / SAMPLES_NAME)
        plot = save_loss_plot(out_dir / LOSS_PLOT_NAME, history)
        return TrainResult(out_dir=out_dir, checkpoint_path=ckpt_path, training_state_path=state_path, step=step,
                           total_steps=total_steps, losses=last_losses, history=history, metrics=metrics,
                           sample_grid_path=grid, loss_plot_path=plot, log_path=log_path,
                           data_fingerprint=fingerprint, resumed_from=resumed_from, stopped_early=stopped_early,
                           stop_reason=stop_reason, elapsed_s=time.perf_counter() - t_start,
                           pairs_per_s=pairs_seen / train_time if train_time > 0 else 0.0)
    finally:
        torch.use_deterministic_algorithms(prev_deterministic[0], warn_only=prev_deterministic[1])
        torch.backends.cudnn.benchmark = prev_benchmark


class SyntheticPairs:
    """A deterministic toy data set in the ``train_set`` format, for tests, benchmarks and smoke runs.

    Item k is a coloured rectangle or disc. Its "stock" image is the clean shape centred on white; each "photo" is
    the same shape, shifted and slightly darker, on a smooth random clutter background: the same kind of
    mapping the real model learns (find the garment, drop the background, re-centre), small enough to overfit in
    seconds on a CPU. ``photos_per_item > 1`` gives several photos of one item, as real street data has. Items
    cycle through the garment types (``item["garment"]``), so conditioned (v2) models train on it too; the type is
    only a label here (the shapes do not depend on it).
    """

    def __init__(self, n_items: int = 8, photos_per_item: int = 1, image_size: int = 32, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        s = image_size
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, s), torch.linspace(-1, 1, s), indexing="ij")

        def shape(kind: int, r: float, dx: float = 0.0, dy: float = 0.0) -> torch.Tensor:
            x, y = xs - dx, ys - dy
            if kind == 0:
                return (x.abs() < r) & (y.abs() < r * 1.3)
            return x ** 2 + y ** 2 < (r * 1.2) ** 2

        self.items: list[dict[str, Any]] = []
        for item in range(n_items):
            colour = (torch.rand(3, generator=g) * 1.6 - 0.8).view(3, 1, 1)
            kind, r = item % 2, 0.3 + 0.2 * torch.rand(1, generator=g).item()
            stock = torch.where(shape(kind, r), colour, torch.ones(3, 1, 1))
            for _ in range(photos_per_item):
                dx, dy = ((torch.rand(2, generator=g) - 0.5) * 0.5).tolist()
                clutter = torch.rand(1, 3, max(2, s // 8), max(2, s // 8), generator=g) * 2 - 1
                clutter = F.interpolate(clutter, size=(s, s), mode="bilinear", align_corners=False)[0]
                photo = torch.where(shape(kind, r, dx, dy), colour * 0.85, clutter)
                self.items.append({"photo": photo.contiguous(), "stock": stock.contiguous(), "item_index": item,
                                   "garment": DEFAULT_GARMENTS[item % len(DEFAULT_GARMENTS)]})
        self.fingerprint = f"synthetic:{n_items}x{photos_per_item}@{s}:seed{seed}"

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]


def train_from_cli(args) -> int:
    """`python -m imagegen train ...` (its parser: imagegen.__main__): the manifest's train and val splits, prepared
    once (mediapipe, cached beside the manifest), then `train`; prints a JSON summary. Returns the exit code."""
    if args.threads:
        torch.set_num_threads(args.threads)
    records = read_manifest(args.data)
    train_records = [r for r in records if r.split == "train"]
    val_records = [r for r in records if r.split == "val"]
    if not train_records:
        print(f"error: {args.data} has no records with split 'train'", file=sys.stderr)
        return 2
    cache_dir = args.cache_dir or Path(args.data).resolve().parent / ".imagegen_cache"
    train_set = PairDataset(train_records, args.size, cache_dir=cache_dir).prepare()
    val_set = PairDataset(val_records, args.size, cache_dir=cache_dir).prepare() if val_records else None
    print(f"train: {len(train_set)} photos of {train_set.num_items} items"
          + (f"; val: {len(val_set)} photos" if val_set is not None else "") + f"; fingerprint {train_set.fingerprint}")

    flow_defaults = {"warp": 10.0, "tv": 1.0} if args.arch == "v3" else {"warp": 0.0, "tv": 0.0}
    config = TrainConfig(image_size=args.size, base_width=args.base_width, arch=args.arch, batch_size=args.batch_size,
                         lr=args.lr, fm_weight=args.fm_weight, levels=args.levels,
                         init=str(args.init) if args.init else None,
                         warp_weight=args.warp_weight if args.warp_weight is not None else flow_defaults["warp"],
                         tv_weight=args.tv_weight if args.tv_weight is not None else flow_defaults["tv"],
                         perceptual_weight=args.perceptual_weight,
                         seed=args.seed, device=args.device, amp=args.amp, channels_last=args.channels_last,
                         num_workers=args.workers, log_every=args.log_every, sample_every=args.sample_every,
                         checkpoint_every=args.checkpoint_every,
                         keep_checkpoints=args.keep_checkpoints, half=args.half, resume=args.resume,
                         steps=args.steps, **({"epochs": args.epochs} if args.epochs is not None else {}))
    result = train(config, train_set, args.out, val_set=val_set)
    summary = {"checkpoint": str(result.checkpoint_path), "step": result.step, "total_steps": result.total_steps,
               "losses": result.losses, "metrics": result.metrics, "pairs_per_s": round(result.pairs_per_s, 1),
               "elapsed_s": round(result.elapsed_s, 1), "samples": str(result.sample_grid_path),
               "loss_plot": str(result.loss_plot_path), "stopped_early": result.stopped_early}
    print(json.dumps(summary, indent=2))
    return 0
