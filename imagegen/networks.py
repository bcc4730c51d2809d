"""The two-stage street-photo -> catalogue-image GAN, in one file.

Read top to bottom: the config, the two building blocks (a U-Net generator and a PatchGAN discriminator), weight
init, the factories that assemble the six parts of the design, and the two small functions that wire the stages
together (``combine``) and build the association discriminators' batch (``association_pairs``).

The design (close to PLDT, "Pixel-Level Domain Transfer", Yoo et al., ECCV 2016, with pix2pix's networks):

    photo ──G1──> stage-1 image ──┐
      │                           ├─ combine (6 channels) ──G2──> catalogue image      (+ L2 to the ground truth)
      └───────────────────────────┘
    D_real   : is this a real catalogue image?                        (3 channels, sees G1's output)
    D_assoc1 : does this product image belong with this photo?       (6 channels, (photo, G1 output))
    D_assoc2 : the same question for the second stage                 (6 channels, (photo, G2 output))

Options (issue #10, all off by default = "v1", the shipped model; ``ARCHS["v2"]`` turns all three on): garment-type
FiLM conditioning of all five networks (``imagegen.conditioning``), resize-conv up-sampling in the U-Nets
(``GANConfig.upsample``) and spectral norm in the discriminators (``GANConfig.spectral_norm``).

Modelled on junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` (UnetGenerator, NLayerDiscriminator), but
written as flat loops instead of recursive blocks so the skip wiring is visible.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from imagegen.conditioning import DEFAULT_GARMENTS, GarmentFiLM, GarmentInput, garment_indices, run_block
from imagegen.warping import FlowGenerator, ResidualRefiner

NORMS = ("instance", "batch", "none")
UPSAMPLES = ("transpose", "nearest", "bilinear")

# Named architectures: the single switch (``TrainConfig.arch``, ``python -m imagegen train --arch``) for the options
# below. "v1" is the shipped model's architecture and every field's default, so a checkpoint whose stored config
# predates these fields loads as v1. "v2" (issue #10): garment-type FiLM in all five networks, resize-conv
# up-sampling in the U-Nets, spectral norm in the discriminators.
ARCHS: dict[str, dict] = {
    "v1": {"garments": (), "upsample": "transpose", "spectral_norm": False},
    "v2": {"garments": DEFAULT_GARMENTS, "upsample": "nearest", "spectral_norm": True},
    # issue #24: v2 plus a G1 that warps the photo's own pixels (appearance flow) and a G2 that refines G1's image
    "v3": {"garments": DEFAULT_GARMENTS, "upsample": "nearest", "spectral_norm": True, "g1": "flow",
           "g2_residual": True},
}
G1_KINDS = ("unet", "flow")


@dataclass
class GANConfig:
    """Everything needed to rebuild the networks; stored inside every checkpoint.

    Defaults give the shipped 64 px model: two U-Nets of ~4.2 M parameters each (~8.4 M together, ~17 MB as a
    float16 checkpoint), which trains at roughly 30 pairs/s and generates in ~25 ms/image on a laptop CPU.
    """

    image_size: int = 64
    """Square side in pixels: a power of two in 32..512. The U-Net depth follows from it (see ``unet_levels``)."""
    base_width: int = 32
    """Channels of the generators' first level; each level doubles it, capped at 8x (pix2pix's ngf)."""
    disc_width: int = 32
    """Channels of the discriminators' first layer (pix2pix's ndf). The Ds are thrown away after training, so
    they are kept narrow: three of them are trained per step and CPU time is the budget."""
    n_disc_layers: int = 3
    """Strided conv layers in each PatchGAN discriminator; 3 gives a 70x70 receptive field (pix2pix's default)."""
    norm: str = "instance"
    """"instance" (default), "batch" or "none". Instance norm behaves the same in train and eval mode and does not
    mix images of a batch, so a photo's output does not depend on what it was batched with or on running
    statistics estimated from a tiny data set; pix2pix uses batch norm, which is available for comparison."""
    dropout: float = 0.0
    """Dropout in the generators' inner decoder levels. pix2pix uses 0.5 as its noise source; we default to 0 so
    that a given photo always yields the same catalogue image (the search index embeds it)."""
    garments: tuple[str, ...] = ()
    """Garment types the networks are conditioned on (FiLM, ``imagegen.conditioning``), in embedding-row order;
    empty (the default, v1) means unconditioned. Each forward then needs the requested type per image: one model
    can learn that a top's catalogue shot is framed differently from a skirt's, instead of guessing from the crop."""
    upsample: str = "transpose"
    """U-Net decoder up-sampling: "transpose" (v1, pix2pix's 4x4 stride-2 transposed conv), or "nearest" /
    "bilinear": resize x2, then a 3x3 conv. A stride-2 transposed conv with a kernel not divisible by its stride
    overlaps unevenly, which prints a checkerboard on flat areas (Odena et al., "Deconvolution and Checkerboard
    Artifacts", Distill 2016); a catalogue image is mostly flat white, where that shows most."""
    spectral_norm: bool = False
    """Spectral normalisation on every discriminator conv (Miyato et al. 2018): caps each layer's Lipschitz
    constant, so the Ds cannot win by growing their weights; steadier training, especially at 128 px and up.
    The Ds are thrown away after training, so this never touches inference or the generator checkpoint."""

    levels: int = 0
    """U-Net down-sampling levels; 0 (the default) derives them from ``image_size`` (see ``unet_levels``). Set it to
    train a larger model's exact architecture at a smaller size first (progressive training, issue #24: a 128 px
    model's 6 levels on 64 px images, then ``--init`` at 128 px): convolutions do not care about the image size, so
    the weights carry over."""
    g1: str = "unet"
    """G1's kind: "unet" (v1, v2: draws the stage-1 image) or "flow" (v3: warps the photo by a predicted affine
    transform plus appearance flow and fills what the photo does not show, ``imagegen.warping.FlowGenerator``)."""
    g2_residual: bool = False
    """G2 returns G1's image plus a learnt correction (``imagegen.warping.ResidualRefiner``) instead of a new
    image: with a warping G1 the texture is already right and G2's job is to clean it, not to redraw it."""

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size > 512 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two between 32 and 512, got {self.image_size}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.base_width < 1 or self.disc_width < 1 or self.n_disc_layers < 1:
            raise ValueError("base_width, disc_width and n_disc_layers must be positive")
        if isinstance(self.garments, str):
            raise ValueError(f"garments must be a sequence of garment type names, got the string {self.garments!r}")
        self.garments = tuple(str(g) for g in self.garments)  # a list read back from JSON or a checkpoint
        if len(set(self.garments)) != len(self.garments) or any(not g for g in self.garments):
            raise ValueError(f"garments must be distinct non-empty names, got {self.garments}")
        if self.upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}, got {self.upsample!r}")
        self.spectral_norm = bool(self.spectral_norm)
        if self.g1 not in G1_KINDS:
            raise ValueError(f"g1 must be one of {G1_KINDS}, got {self.g1!r}")
        self.g2_residual = bool(self.g2_residual)
        self.levels = int(self.levels)
        if self.levels and not 2 <= self.levels <= int(math.log2(self.image_size)):
            raise ValueError(f"levels must be 0 (derived) or 2..{int(math.log2(self.image_size))} at "
                             f"{self.image_size} px, got {self.levels}")

    @classmethod
    def for_arch(cls, arch: str, **fields_) -> "GANConfig":
        """A config with a named architecture's options (``ARCHS``) and the given other fields."""
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {tuple(ARCHS)}, got {arch!r}")
        return cls(**{**ARCHS[arch], **fields_})

    @property
    def arch(self) -> str:
        """The ``ARCHS`` name this config's options match, or "custom". An option a preset does not name must be at
        its default (v1's value), so v2's options alone, a subset of v3's, do not make a v3 config "v2"."""
        defaults = {f.name: f.default for f in fields(self)}
        keys = {k for options in ARCHS.values() for k in options}
        for name, options in ARCHS.items():
            if all(getattr(self, k) == options.get(k, defaults[k]) for k in keys):
                return name
        return "custom"

    @property
    def conditioned(self) -> bool:
        return bool(self.garments)

    def garment_indices(self, garments: GarmentInput, n: int, device: torch.device | str | None = None
                        ) -> torch.Tensor | None:
        """The embedding rows for a batch of ``n`` (``conditioning.garment_indices``), or None if unconditioned:
        an unconditioned model ignores the type, so every caller can always pass it."""
        if not self.conditioned:
            return None
        return garment_indices(garments, self.garments, n, device)

    @property
    def unet_levels(self) -> int:
        """Down-sampling levels: halve until the bottleneck is 2x2 (64 px -> 5 levels, 128 -> 6, 256 -> 7).

        pix2pix goes down to 1x1; stopping at 2x2 keeps instance norm meaningful on the innermost decoder level
        and costs nothing in receptive field at these sizes.
        """
        return self.levels or int(math.log2(self.image_size)) - 1

    def to_dict(self) -> dict:
        """Plain JSON-able values (``garments`` as a list), the form stored in checkpoints and config.json."""
        d = asdict(self)
        d["garments"] = list(self.garments)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GANConfig":
        """Rebuild from ``to_dict``. Fields a dict lacks take their defaults, which are the v1 architecture: that is
        how checkpoints written before a field existed (the shipped ``default.pt``) keep loading unchanged."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown GANConfig fields: {sorted(unknown)}")
        return cls(**d)


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        # affine=True so the layer can learn a scale/shift; no running stats, so train == eval behaviour.
        return nn.InstanceNorm2d(channels, affine=True, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    return nn.Identity()


# Nearest x2 then a 3-tap conv, along one axis: output pixel 2i (phase 0) sees up-sampled pixels 2i-1, 2i, 2i+1 =
# input pixels i-1, i, i, so it is a 2-tap conv on the input over i-1, i with taps (w0, w1 + w2); output 2i+1
# (phase 1) sees i, i, i+1: taps (w0 + w1, w2) over i, i+1. _PHASE_TAPS[phase, tap, k] says which of w0..w2 sum
# into each tap. The up-sampled map's zero padding (pixels -1 and 2H) is exactly the input's (pixels -1 and H).
_PHASE_TAPS = torch.tensor([[[1., 0., 0.], [0., 1., 1.]],
                            [[1., 1., 0.], [0., 0., 1.]]])
# [9 (ky, kx), 16 (phase_y, phase_x, tap_y, tap_x)]: the 3x3 -> four 2x2 kernels map, as one matmul
_FOLD_3X3 = torch.einsum("atk,bsl->klabts", _PHASE_TAPS, _PHASE_TAPS).reshape(9, 16)


class ResizeConv2d(nn.Conv2d):
    """x2 resize ("nearest" or "bilinear") followed by this 3x3, stride-1, padding-1 conv, as one module.

    Parameters, state-dict keys and the function computed are those of ``nn.Upsample`` + ``nn.Conv2d(k=3, p=1)``;
    only the arithmetic differs. For "nearest" the conv is folded into the resize (issue #10): each of the four
    output phases (even/odd row x even/odd column) is a 2x2 conv of the *input-resolution* map, so one conv with
    ``4 * out_channels`` 2x2 kernels, derived from the 3x3 weight in every forward (so always current, also right
    after an optimizer step, and autograd carries the gradients back to the 3x3 weight): 16 multiply-adds per input
    pixel and channel pair instead of 36, and the up-sampled input is never materialised. Measured on a 2-core CPU
    (issue #10), v2 G1 at 128 px: batch 16 ~2.6x faster (forward + backward ~2.5x), batch 1 ~1.35x; about v1's
    transposed-conv latency.
    Deriving the kernels costs a matmul over the weight, which does not pay on the tiny inner maps at batch 1, so
    below ``MIN_FUSED_PIXELS`` input pixels per batch (N * H * W) the plain resize-then-conv runs. "bilinear" always
    runs unfused: its edge clamping does not fold into a zero-padded conv this cheaply.
    """

    MIN_FUSED_PIXELS = 256
    """Fuse when N * H * W of the input is at least this; measured crossover on a 2-core CPU (8x8 maps at batch 1
    are faster unfused, 16x16 at batch 1 and 4x4 at batch 16 fused)."""

    def __init__(self, in_channels: int, out_channels: int, mode: str = "nearest", bias: bool = True):
        super().__init__(in_channels, out_channels, 3, 1, 1, bias=bias)
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.mode = mode
        self.fused = mode == "nearest"  # off: always the plain path (the reference in tests and timings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        if not self.fused or n * h * w < self.MIN_FUSED_PIXELS:
            up = nn.functional.interpolate(x, scale_factor=2, mode=self.mode,
                                           **({"align_corners": False} if self.mode == "bilinear" else {}))
            return super().forward(up)
        weight, co = self.weight, self.out_channels
        # [co, ci, 9] @ [9, 16] -> [co, ci, (py, px, ty, tx)] -> [(py, px, co), ci, ty, tx]
        kernels = (weight.reshape(co, -1, 9) @ _FOLD_3X3.to(weight.device, weight.dtype))
        kernels = kernels.reshape(co, -1, 2, 2, 2, 2).permute(2, 3, 0, 1, 4, 5).reshape(4 * co, -1, 2, 2)
        # padding 1 gives (h+1) x (w+1) outputs; output p of a 2x2 kernel covers input p-1, p: phase 0 of input
        # pixel i is output i (taps i-1, i), phase 1 is output i+1 (taps i, i+1)
        y = nn.functional.conv2d(x, kernels, None if self.bias is None else self.bias.repeat(4), padding=1)
        y = y.unflatten(1, (2, 2, co))
        phases = torch.stack([y[:, py, px, :, py:py + h, px:px + w] for py in (0, 1) for px in (0, 1)], 1)
        # [n, (py, px), co, h, w] -> [n, co, h, py, w, px] -> [n, co, 2h, 2w]
        return phases.unflatten(1, (2, 2)).permute(0, 3, 4, 1, 5, 2).reshape(n, co, 2 * h, 2 * w)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, resize=x2 {self.mode}"


def _up_conv(in_w: int, out_w: int, upsample: str, bias: bool = True) -> list[nn.Module]:
    """One x2 up-sampling conv: pix2pix's transposed conv ("transpose"), or resize-then-3x3-conv.

    The resize-conv has the same receptive field growth and output size, and every output pixel gets the same
    number of kernel taps, so no checkerboard (see ``GANConfig.upsample``). It is ``[nn.Identity(), ResizeConv2d]``:
    the placeholder keeps the conv at the block index where the separate ``nn.Upsample`` + ``nn.Conv2d`` put it, so
    the state-dict keys (``up.<i>.2.weight``) of checkpoints written before the resize moved into the conv match.
    """
    if upsample == "transpose":
        return [nn.ConvTranspose2d(in_w, out_w, 4, 2, 1, bias=bias)]
    return [nn.Identity(), ResizeConv2d(in_w, out_w, upsample, bias=bias)]


class UNet(nn.Module):
    """pix2pix's U-Net: 4x4 stride-2 convs down, transposed convs (or resize-convs) up, each decoder level
    concatenated with the encoder level of the same resolution.

    Skip connections are what makes a U-Net right for this job: the photo and the catalogue image share a lot of
    low-level structure (garment colour, print, edges) that need not squeeze through the bottleneck.

    With ``n_garments > 0`` every level but the output one ends in a ``GarmentFiLM``, and ``forward`` needs the
    garment indices (see ``imagegen.conditioning`` for why FiLM at every level). With the defaults the modules, their
    order and their state-dict keys are exactly those of the original (v1) network.
    """

    def __init__(self, in_channels: int, out_channels: int, levels: int, base_width: int,
                 norm: str = "instance", dropout: float = 0.0, n_garments: int = 0, upsample: str = "transpose"):
        super().__init__()
        if upsample not in UPSAMPLES:
            raise ValueError(f"upsample must be one of {UPSAMPLES}, got {upsample!r}")
        widths = [base_width * min(2 ** i, 8) for i in range(levels)]
        use_bias = norm != "batch"  # a bias right before batch norm is cancelled by it (pix2pix does the same)
        self.n_garments = n_garments

        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            if i == 0:  # outermost: no activation before, no norm after (raw pixels in)
                block = [nn.Conv2d(in_channels, w, 4, 2, 1, bias=use_bias)]
            else:
                block = [nn.LeakyReLU(0.2, inplace=False), nn.Conv2d(widths[i - 1], w, 4, 2, 1, bias=use_bias)]
                if i < levels - 1:  # the innermost (2x2) level is not normalised, as in pix2pix
                    block.append(_norm(norm, w))
            if n_garments:
                block.append(GarmentFiLM(n_garments, w))
            self.down.append(nn.Sequential(*block))

        # up[i] produces the resolution of down[i]'s *input*; built innermost-first, applied in that order too.
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            in_w = widths[i] if i == levels - 1 else widths[i] * 2  # innermost has no skip to concatenate yet
            if i == 0:
                block = [nn.ReLU(), *_up_conv(in_w, out_channels, upsample), nn.Tanh()]
            else:
                block = [nn.ReLU(), *_up_conv(in_w, widths[i - 1], upsample, bias=use_bias),
                         _norm(norm, widths[i - 1])]
                if n_garments:
                    block.append(GarmentFiLM(n_garments, widths[i - 1]))
                # pix2pix puts dropout on the decoder levels nearest the bottleneck (the 8x-width ones)
                if dropout > 0 and widths[i - 1] == widths[-1] and i > 1:
                    block.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*block))

    def forward(self, x: torch.Tensor, garment: torch.Tensor | None = None) -> torch.Tensor:
        """``garment``: LongTensor [N] of embedding rows (``GANConfig.garment_indices``); required when the
        network is conditioned, ignored when it is not."""
        return self.forward_with_bottleneck(x, garment)[0]

    def forward_with_bottleneck(self, x: torch.Tensor, garment: torch.Tensor | None = None
                                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, the innermost feature map): a warping G1 reads its global transform off the bottleneck."""
        garment = garment if self.n_garments else None
        skips = []
        for block in self.down:
            x = run_block(block, x, garment)
            skips.append(x)
        bottleneck = skips.pop()  # the decoder's input, not a skip
        for block in self.up:
            x = run_block(block, x, garment)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x, bottleneck


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN (NLayerDiscriminator): outputs a map of real/fake logits, one per overlapping patch.

    Judging patches rather than the whole image penalises texture and local structure, which is where a small
    generator fails first, with far fewer parameters than a global classifier. Used for all three discriminators:
    on 3 channels (D_real) and on 6-channel (photo, product image) pairs (D_assoc1, D_assoc2); with 3 layers the
    70 px receptive field covers most of a 64 px pair, so a patch can still see whether photo and product agree.

    With ``n_garments > 0`` each normalised layer is followed by a ``GarmentFiLM``, so the D judges "a real
    catalogue image *of this type*" (see ``imagegen.conditioning``); ``forward`` then needs the garment indices.
    """

    def __init__(self, in_channels: int, width: int = 32, n_layers: int = 3, norm: str = "instance",
                 n_garments: int = 0):
        super().__init__()
        use_bias = norm != "batch"
        self.n_garments = n_garments
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last feature layer keeps resolution, as in pix2pix
            layers += [nn.Conv2d(width * prev, width * mult, 4, stride, 1, bias=use_bias), _norm(norm, width * mult)]
            if n_garments:
                layers.append(GarmentFiLM(n_garments, width * mult))
            layers.append(nn.LeakyReLU(0.2))
        layers.append(nn.Conv2d(width * mult, 1, 4, 1, 1))  # one logit per patch; the loss decides its meaning
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, garment: torch.Tensor | None = None) -> torch.Tensor:
        """``garment``: LongTensor [N] of embedding rows, one per row of ``x``; ignored when unconditioned."""
        return run_block(self.model, x, garment if self.n_garments else None)

    def features(self, x: torch.Tensor, garment: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The activations after every LeakyReLU (one per strided/feature layer), for feature matching.

        pix2pixHD's feature-matching loss compares these between the real and the generated image: a term that
        rewards matching the *statistics a discriminator uses* (edges, stripes, repeats) rather than the exact
        pixels, which L1/L2 alone average away into blur on fine patterns. Same modules as ``forward``, minus
        the final logit conv.
        """
        garment = garment if self.n_garments else None
        if garment is None and any(isinstance(m, GarmentFiLM) for m in self.model):
            raise ValueError("this network is conditioned on the garment type: pass garment indices")
        out = []
        for m in list(self.model)[:-1]:
            x = m(x, garment) if isinstance(m, GarmentFiLM) else m(x)
            if isinstance(m, nn.LeakyReLU):
                out.append(x)
        return out


def add_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral-normalise every conv of ``net`` in place (``torch.nn.utils.parametrizations.spectral_norm``).

    Call it after ``init_weights``: the parametrisation keeps the initialised weight as ``weight.original`` and
    divides by its largest singular value (one power iteration per training forward, estimates kept as buffers,
    so a resumed run continues them exactly). The parametrisation API is used rather than the classic
    ``nn.utils.spectral_norm`` hook, which is deprecated in its favour.
    """
    for m in list(net.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            spectral_norm(m)
    return net


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """Weight init in one place: N(0, 0.02) for convs, N(1, 0.02) for norm scales, zero biases (pix2pix / DCGAN).

    PyTorch's default (Kaiming-uniform) init works too, but GAN recipes are tuned for this one; keeping it explicit
    also makes ``untrained(seed=...)`` models reproducible across PyTorch versions' default-init changes.
    """
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net


def build_generators(cfg: GANConfig) -> tuple[UNet, UNet]:
    """G1: photo (3 ch) -> stage-1 image; G2: combine(photo, G1 output) (6 ch) -> catalogue image. Initialised.

    Both take the garment indices when ``cfg`` is conditioned: ``g1(photo, garment)``, ``g2(combined, garment)``.
    """
    options = dict(n_garments=len(cfg.garments), upsample=cfg.upsample)
    if cfg.g1 == "flow":  # a v3 G1: warp the photo (imagegen.warping); 6 outputs: flow, visibility, residual
        unet = UNet(3, 6, cfg.unet_levels, cfg.base_width, cfg.norm, cfg.dropout, **options)
        g1 = init_weights(FlowGenerator(unet, bottleneck_width=cfg.base_width * min(2 ** (cfg.unet_levels - 1), 8)))
        g1.reset_warp()
    else:
        g1 = init_weights(UNet(3, 3, cfg.unet_levels, cfg.base_width, cfg.norm, cfg.dropout, **options))
    g2 = init_weights(UNet(6, 3, cfg.unet_levels, cfg.base_width, cfg.norm, cfg.dropout, **options))
    if cfg.g2_residual:
        g2 = ResidualRefiner(g2)
    return g1, g2


def build_discriminators(cfg: GANConfig) -> dict[str, PatchDiscriminator]:
    """The three discriminators by name: ``real`` (3 ch), ``assoc1`` and ``assoc2`` (6-ch pairs). Initialised,
    then spectral-normalised if ``cfg.spectral_norm``."""
    def build(in_channels: int) -> PatchDiscriminator:
        d = init_weights(PatchDiscriminator(in_channels, cfg.disc_width, cfg.n_disc_layers, cfg.norm,
                                            n_garments=len(cfg.garments)))
        return add_spectral_norm(d) if cfg.spectral_norm else d

    return {"real": build(3), "assoc1": build(6), "assoc2": build(6)}


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def combine(photo: torch.Tensor, g1_out: torch.Tensor) -> torch.Tensor:
    """The combiner: channel concatenation ``[photo, G1 output]`` -> 6 channels, G2's input.

    G2 sees both so it can copy detail from the photo (which G1 may have blurred away) while taking the clean
    catalogue layout from G1's output.
    """
    if photo.shape != g1_out.shape:
        raise ValueError(f"photo {tuple(photo.shape)} and G1 output {tuple(g1_out.shape)} must have the same shape")
    return torch.cat([photo, g1_out], dim=-3)


def mismatch_partner(item_index: torch.Tensor) -> torch.Tensor:
    """For each sample i, the index j of another sample of a *different* item, or -1 if the batch has none.

    PLDT's "not associated" real pairs are (photo_i, stock_j) with j another item. We roll the batch by 1, 2, ...
    and take, per sample, the first shift whose item differs. A same-item partner would be a *true* association
    (two street photos of one item share the stock image), so labelling it 0 would teach D_assoc a contradiction:
    such pairs are never used as negatives.
    """
    n = item_index.shape[0]
    partner = torch.full((n,), -1, dtype=torch.long, device=item_index.device)
    arange = torch.arange(n, device=item_index.device)
    for shift in range(1, n):
        j = (arange + shift) % n
        ok = (partner < 0) & (item_index[j] != item_index)
        partner = torch.where(ok, j, partner)
        if bool((partner >= 0).all()):
            break
    return partner


def association_pairs(photo: torch.Tensor, stock: torch.Tensor, fake: torch.Tensor | None,
                      item_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Build the association discriminator's batch, as PLDT trained D_A.

    Returns ``pairs`` [M, 6, H, W] (photo channels first) and float ``labels`` [M], in this order:

    * N pairs (photo_i, stock_i)                          -> 1 (associated)
    * up to N pairs (photo_i, stock_j), item_j != item_i  -> 0 (a real catalogue image, but the wrong item);
      samples whose batch holds no other item get no such pair (see ``mismatch_partner``)
    * N pairs (photo_i, fake_i), if ``fake`` is given      -> 0 (generated)

    The middle group is what makes this an *association* discriminator rather than a second realism one: it must
    look at the photo to tell a right catalogue image from a wrong one, and that pressure reaches the generator.
    Pass ``fake`` detached when updating D.
    """
    item_index = torch.as_tensor(item_index, device=photo.device).long().reshape(-1)
    n = photo.shape[0]
    if stock.shape != photo.shape or item_index.shape[0] != n:
        raise ValueError("photo, stock and item_index must describe the same batch")
    groups = [combine(photo, stock)]
    labels = [torch.ones(n, device=photo.device)]

    partner = mismatch_partner(item_index)
    keep = partner >= 0
    if bool(keep.any()):
        groups.append(combine(photo[keep], stock[partner[keep]]))
        labels.append(torch.zeros(int(keep.sum()), device=photo.device))

    if fake is not None:
        groups.append(combine(photo, fake.to(photo.dtype)))
        labels.append(torch.zeros(n, device=photo.device))
    return torch.cat(groups), torch.cat(labels)


def association_garments(garment: torch.Tensor | None, item_index: torch.Tensor, with_fake: bool
                         ) -> torch.Tensor | None:
    """The garment index of every row of ``association_pairs``' batch, in the same order (None stays None).

    Each pair is judged against the type its *photo* was asked for: the mismatched pairs (photo_i, stock_j) carry
    photo i's type, so a catalogue image of another type is one more way to be the wrong item.
    """
    if garment is None:
        return None
    item_index = torch.as_tensor(item_index, device=garment.device).long().reshape(-1)
    keep = mismatch_partner(item_index) >= 0
    return torch.cat([garment, garment[keep], *([garment] if with_fake else [])])
