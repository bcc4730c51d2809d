"""Garment-type conditioning: a learned per-type FiLM (feature-wise scale and shift) for the GAN's networks.

Why FiLM and not extra input channels
-------------------------------------
The obvious alternative, broadcasting a one-hot (or embedded) garment type as constant extra input channels, is a
poor fit for these networks: a spatially constant input channel only adds a per-class constant to the first conv's
output, and every instance-norm layer after it subtracts each channel's spatial mean, so most of the signal is
normalised away by the second level. FiLM applied right *after* a norm layer (conditional instance norm, Dumoulin
et al. 2017; FiLM, Perez et al. 2018) modulates the already-normalised features at every level, where nothing can
erase it, and costs a per-channel multiply-add, not a wider first conv. So both the generators and the
discriminators use it: a D that knows the requested type can reject "a plausible skirt" when a top was asked for.

Why one embedding table per layer
---------------------------------
There are three garment types. A table of ``(1 + gamma, beta)`` per type and per layer (``2C`` numbers a row) is
the learned class embedding itself, with no shared embedding + projection MLP to tune: fewer parameters than a
projection for any embedding width above 3, and no extra hyperparameter in ``GANConfig``.

Init: ``gamma`` and ``beta`` start as N(0, 0.02), the project's init scale (``networks.init_weights``): the types
start almost, but not exactly, at the unconditioned network, so a freshly initialised model already routes each
row's type (tests can see it) without a large random per-type distortion to unlearn.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# The garment types the marketplace uses (marketplace.catalogue.models.GarmentType, imagegen.offline.data.GARMENTS), in
# the embedding-row order of a conditioned model built with the defaults. A checkpoint stores its own tuple, so the
# order that counts is always the checkpoint's.
DEFAULT_GARMENTS: tuple[str, ...] = ("top", "bottom", "whole")

GarmentInput = Sequence[str] | str | torch.Tensor | None


def garment_indices(garments: GarmentInput, vocabulary: Sequence[str], n: int,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Turn the requested garment type(s) of a batch of ``n`` into embedding rows: a LongTensor ``[n]``.

    ``garments`` is one name for the whole batch, one name per row, or already a tensor of row indices (what a
    ``DataLoader`` over pre-indexed data gives). Unknown names raise ``ValueError`` naming the known ones: a
    conditioned model asked for a type it was never trained on must fail loudly, not fall back to another type.
    """
    if garments is None:
        raise ValueError(f"this model is conditioned on the garment type ({', '.join(vocabulary)}): pass garments")
    if isinstance(garments, torch.Tensor):
        idx = garments.to(device=device, dtype=torch.long).reshape(-1)
        if idx.numel() == 1 and n != 1:
            idx = idx.expand(n)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(vocabulary)):
            raise ValueError(f"garment indices must be in 0..{len(vocabulary) - 1}, got {idx.tolist()}")
    else:
        names = [garments] * n if isinstance(garments, str) else list(garments)
        lookup = {name: i for i, name in enumerate(vocabulary)}
        unknown = sorted({str(g) for g in names if g not in lookup})
        if unknown:
            raise ValueError(f"unknown garment type(s) {unknown}; this model knows {', '.join(vocabulary)}")
        idx = torch.tensor([lookup[g] for g in names], dtype=torch.long, device=device)
    if idx.shape[0] != n:
        raise ValueError(f"{n} images but {idx.shape[0]} garment types")
    return idx


class GarmentFiLM(nn.Module):
    """``x * (1 + gamma[type]) + beta[type]``, per channel, each row of the batch with its own type.

    Lives inside a network's ``nn.Sequential`` blocks; the networks call it as ``film(x, garment)`` (see
    ``run_block``), so a mixed batch is modulated row by row with no Python loop over rows.
    """

    def __init__(self, n_garments: int, channels: int):
        super().__init__()
        if n_garments < 1:
            raise ValueError("GarmentFiLM needs at least one garment type")
        self.channels = channels
        self.table = nn.Embedding(n_garments, 2 * channels)
        nn.init.normal_(self.table.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, garment: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.table(garment).to(x.dtype).chunk(2, dim=1)
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]

    def extra_repr(self) -> str:
        return f"garments={self.table.num_embeddings}, channels={self.channels}"


def run_block(block: nn.Module, x: torch.Tensor, garment: torch.Tensor | None) -> torch.Tensor:
    """Apply an ``nn.Sequential`` block, handing ``garment`` to its ``GarmentFiLM`` layers.

    A block without FiLM runs exactly as ``block(x)`` would (same modules, same order), which is what keeps an
    unconditioned (v1) checkpoint's outputs byte-identical.
    """
    if garment is None:
        if any(isinstance(m, GarmentFiLM) for m in block):
            raise ValueError("this network is conditioned on the garment type: pass garment indices")
        return block(x)
    for m in block:
        x = m(x, garment) if isinstance(m, GarmentFiLM) else m(x)
    return x


__all__ = ["DEFAULT_GARMENTS", "GarmentFiLM", "GarmentInput", "garment_indices", "run_block"]
