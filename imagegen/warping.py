"""Texture-preserving generators (issue #24): G1 warps the photo's own pixels, G2 refines G1's image.

Why warp instead of draw
------------------------
The garment's print is already in the photo: the preprocessed street photo shows the very stripes, checks and motif
the catalogue image must show, bent over a body. A U-Net trained with L1/L2 has to *redraw* that texture pixel by
pixel from its bottleneck and, where it cannot place a stripe exactly, draws the blurred average: the "plaid smudge"
of the 64 px v1 and v2 models. Virtual try-on models keep textures by predicting an **appearance flow**, a sampling
grid into the source image, and moving the garment's own pixels (ClothFlow, ICCV 2019; PF-AFN, CVPR 2021; GP-VTON,
CVPR 2023). ``FlowGenerator`` is that idea inside the patent's G1 slot:

    photo ──U-Net──> [flow (2), visibility (1), residual (3)]   bottleneck ──> affine (6)
    grid   = affine_grid(I + affine) + flow
    warped = sample(photo, grid)                          (white outside the photo)
    G1     = visibility * warped + (1 - visibility) * residual

* The **affine** part (from the bottleneck, zero-initialised so it starts at the identity) moves the whole garment:
  a top's crop shows the torso large, its catalogue image shows the whole garment smaller and centred. Its gradient
  gathers over every pixel, like a spatial transformer's, so the large global displacement is learnt at once; the
  per-pixel **flow** then only has to bend sleeves and hems a few pixels (bilinear sampling passes gradients only
  to the four neighbours of each sample, which is why a purely local flow learns large moves badly).
* **Visibility** and the **residual** are for what the photo does not show or must not be copied: the back, parts
  hidden by arms or bags, the white background, shading. ``warp_pyramid_l1`` and ``flow_tv`` (in training) keep the
  warp honest and smooth.

``ResidualRefiner`` is G2 for this architecture: its input is still the 6-channel ``combine(photo, G1 output)``,
and its output is G1's image plus a learnt correction, so an untrained G2 already returns G1's image, and a
trained one sharpens it instead of re-synthesising it.

Both keep the interfaces of ``networks.UNet`` (``net(x, garment)`` returns the image), so the inference wrapper,
the checkpoint format, the training loop and the ONNX export see no difference. ``FlowGenerator.parts`` returns the
intermediate pieces for training losses and sample grids.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def warp(image: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bilinear sample of ``image`` [N, C, H, W] (in [-1, 1]) at ``grid`` [N, H', W', 2] (normalised x, y),
    white (1.0) wherever the grid points outside the image: the preprocessed photo is a person on white, so what
    lies beyond its border is white too. Always in float32: a bfloat16 grid has 8 bits of mantissa, a pixel's worth
    of error at 128 px."""
    with torch.autocast(device_type=image.device.type, enabled=False):
        return F.grid_sample(image.float() - 1.0, grid.float(), mode="bilinear", padding_mode="zeros",
                             align_corners=False) + 1.0


def identity_grid(n: int, h: int, w: int, device: torch.device | str | None = None) -> torch.Tensor:
    theta = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=device).expand(n, 2, 3)
    return F.affine_grid(theta, [n, 1, h, w], align_corners=False)


class FlowGenerator(nn.Module):
    """G1 as an appearance-flow warp of the photo plus a synthesised residual (see the module docstring).

    ``unet`` is a ``networks.UNet`` with 6 output channels (after its tanh): flow x, y; visibility; residual RGB.
    ``flow_scale`` bounds the per-pixel flow to that many half-widths of the image (tanh output x scale); the affine
    part is unbounded.
    """

    def __init__(self, unet: nn.Module, bottleneck_width: int, flow_scale: float = 0.5):
        super().__init__()
        self.unet = unet
        self.flow_scale = float(flow_scale)
        self.affine = nn.Linear(bottleneck_width, 6)

    def reset_warp(self) -> None:
        """Start at the identity warp: the affine head and the flow channels of the U-Net's last conv at zero (called
        after ``networks.init_weights``). An untrained G1 then copies the photo where it is visible, instead of
        sampling it along random offsets; each step moves away from that."""
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)
        last = [m for m in self.unet.up[-1].modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        with torch.no_grad():
            flow_rows = last.weight[:, 0:2] if isinstance(last, nn.ConvTranspose2d) else last.weight[0:2]
            flow_rows.zero_()
            if last.bias is not None:
                last.bias[0:2].zero_()

    def parts(self, x: torch.Tensor, garment: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``out`` (G1's image) and its pieces: ``warped``, ``visibility`` [N,1,H,W], ``residual``, ``flow``
        [N,H,W,2] (the per-pixel part), ``grid`` [N,H,W,2] (what was sampled) and ``theta`` [N,2,3]."""
        h, bottleneck = self.unet.forward_with_bottleneck(x, garment)
        raw = h.float()
        n, _, height, width = x.shape
        eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], device=x.device)
        with torch.autocast(device_type=x.device.type, enabled=False):
            theta = eye + self.affine(bottleneck.float().mean(dim=(2, 3))).view(n, 2, 3)
            base = F.affine_grid(theta, [n, 1, height, width], align_corners=False)
            flow = raw[:, 0:2].permute(0, 2, 3, 1) * self.flow_scale
            grid = base + flow
            warped = warp(x, grid)
            visibility = (raw[:, 2:3] + 1.0) * 0.5
            residual = raw[:, 3:6]
            out = visibility * warped + (1.0 - visibility) * residual
        return {"out": out, "warped": warped, "visibility": visibility, "residual": residual, "flow": flow,
                "grid": grid, "theta": theta}

    def forward(self, x: torch.Tensor, garment: torch.Tensor | None = None) -> torch.Tensor:
        return self.parts(x, garment)["out"]


class ResidualRefiner(nn.Module):
    """G2 as G1's image plus a correction: ``clamp(combined[:, 3:6] + unet(combined), -1, 1)``.

    ``combined`` is ``networks.combine(photo, g1_out)``; its last three channels are G1's image. Build it around an
    initialised U-Net: its last conv is then set to zero (the zero-init residual of ResNets and ControlNet), so an
    untrained refiner passes G1's image through and every step moves away from that."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet
        last = [m for m in unet.up[-1].modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)

    def forward(self, combined: torch.Tensor, garment: torch.Tensor | None = None) -> torch.Tensor:
        correction = self.unet(combined, garment)
        return (combined[:, 3:6].to(correction.dtype) + correction).clamp(-1.0, 1.0)


# -- training terms (used by imagegen.offline.train; here because they are the warp's own geometry) --------------------

def garment_weight(stock: torch.Tensor, threshold: float = 0.94) -> torch.Tensor:
    """[N, 1, H, W] 1 where the catalogue image is not white background (any channel below ``threshold`` in
    [-1, 1]), else 0: the pixels whose texture the warp must bring over."""
    return (stock.min(dim=1, keepdim=True).values < threshold).float()


def warp_pyramid_l1(photo: torch.Tensor, grid: torch.Tensor, stock: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Mean over scales 1, 1/2, 1/4 … (``levels`` of them, down to 4 px) of the garment-weighted L1 between the photo warped by ``grid`` and the
    catalogue image, each scale sampling an average-pooled photo with the same (pooled) grid.

    A coarse scale's sample moves a blurred photo, whose gradient reaches several pixels: the broad basin that lets
    the warp find a sleeve a dozen pixels away, which the full-resolution term alone (gradient to 4 neighbours)
    cannot (the coarse-to-fine reason of PF-AFN's and ClothFlow's pyramids). Average pooling is not shift-equivariant
    off its 2^k grid, so the coarse scales leave a small remainder at the true warp; the full-resolution scale
    decides the last pixel. Five levels (down to 1/16) reach a panel 10 px away at 64 px; four did not
    (``tests/imagegen/test_arch_v3.py``)."""
    weight = garment_weight(stock)
    total, levels_used = photo.new_zeros(()), 0
    grid_nchw = grid.permute(0, 3, 1, 2)
    for level in range(levels):
        k = 2 ** level
        if photo.shape[-1] // k < 4:
            break
        p = F.avg_pool2d(photo.float(), k) if k > 1 else photo.float()
        s = F.avg_pool2d(stock.float(), k) if k > 1 else stock.float()
        w = F.avg_pool2d(weight, k) if k > 1 else weight
        g = (F.avg_pool2d(grid_nchw.float(), k) if k > 1 else grid_nchw.float()).permute(0, 2, 3, 1)
        diff = (warp(p, g) - s).abs().mean(dim=1, keepdim=True)
        total = total + (diff * w).sum() / w.sum().clamp_min(1.0)
        levels_used = level + 1
    return total / max(levels_used, 1)


def flow_tv(flow: torch.Tensor) -> torch.Tensor:
    """Total variation (mean absolute difference of neighbours) of a [N, H, W, 2] flow, in pixels of the image:
    keeps the warp from tearing the garment apart, without forbidding it to bend."""
    n, h, w, _ = flow.shape
    scale = flow.new_tensor([w / 2.0, h / 2.0])  # normalised units -> pixels
    f = flow * scale
    return (f[:, 1:] - f[:, :-1]).abs().mean() + (f[:, :, 1:] - f[:, :, :-1]).abs().mean()


__all__ = ["FlowGenerator", "ResidualRefiner", "flow_tv", "garment_weight", "identity_grid", "warp",
           "warp_pyramid_l1"]
