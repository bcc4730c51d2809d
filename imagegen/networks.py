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

Modelled on junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` (UnetGenerator, NLayerDiscriminator), but
written as flat loops instead of recursive blocks so the skip wiring is visible.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

NORMS = ("instance", "batch", "none")


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

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.image_size > 512 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two between 32 and 512, got {self.image_size}")
        if self.norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {self.norm!r}")
        if self.base_width < 1 or self.disc_width < 1 or self.n_disc_layers < 1:
            raise ValueError("base_width, disc_width and n_disc_layers must be positive")

    @property
    def unet_levels(self) -> int:
        """Down-sampling levels: halve until the bottleneck is 2x2 (64 px -> 5 levels, 128 -> 6, 256 -> 7).

        pix2pix goes down to 1x1; stopping at 2x2 keeps instance norm meaningful on the innermost decoder level
        and costs nothing in receptive field at these sizes.
        """
        return int(math.log2(self.image_size)) - 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "GANConfig":
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


class UNet(nn.Module):
    """pix2pix's U-Net: 4x4 stride-2 convs down, transposed convs up, each decoder level concatenated with the
    encoder level of the same resolution.

    Skip connections are what makes a U-Net right for this job: the photo and the catalogue image share a lot of
    low-level structure (garment colour, print, edges) that need not squeeze through the bottleneck.
    """

    def __init__(self, in_channels: int, out_channels: int, levels: int, base_width: int,
                 norm: str = "instance", dropout: float = 0.0):
        super().__init__()
        widths = [base_width * min(2 ** i, 8) for i in range(levels)]
        use_bias = norm != "batch"  # a bias right before batch norm is cancelled by it (pix2pix does the same)

        self.down = nn.ModuleList()
        for i, w in enumerate(widths):
            if i == 0:  # outermost: no activation before, no norm after (raw pixels in)
                block = [nn.Conv2d(in_channels, w, 4, 2, 1, bias=use_bias)]
            else:
                block = [nn.LeakyReLU(0.2, inplace=False), nn.Conv2d(widths[i - 1], w, 4, 2, 1, bias=use_bias)]
                if i < levels - 1:  # the innermost (2x2) level is not normalised, as in pix2pix
                    block.append(_norm(norm, w))
            self.down.append(nn.Sequential(*block))

        # up[i] produces the resolution of down[i]'s *input*; built innermost-first, applied in that order too.
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            in_w = widths[i] if i == levels - 1 else widths[i] * 2  # innermost has no skip to concatenate yet
            if i == 0:
                block = [nn.ReLU(), nn.ConvTranspose2d(in_w, out_channels, 4, 2, 1), nn.Tanh()]
            else:
                block = [nn.ReLU(), nn.ConvTranspose2d(in_w, widths[i - 1], 4, 2, 1, bias=use_bias),
                         _norm(norm, widths[i - 1])]
                # pix2pix puts dropout on the decoder levels nearest the bottleneck (the 8x-width ones)
                if dropout > 0 and widths[i - 1] == widths[-1] and i > 1:
                    block.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck itself is the decoder's input, not a skip
        for block in self.up:
            x = block(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x


class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN (NLayerDiscriminator): outputs a map of real/fake logits, one per overlapping patch.

    Judging patches rather than the whole image penalises texture and local structure, which is where a small
    generator fails first, with far fewer parameters than a global classifier. Used for all three discriminators:
    on 3 channels (D_real) and on 6-channel (photo, product image) pairs (D_assoc1, D_assoc2); with 3 layers the
    70 px receptive field covers most of a 64 px pair, so a patch can still see whether photo and product agree.
    """

    def __init__(self, in_channels: int, width: int = 32, n_layers: int = 3, norm: str = "instance"):
        super().__init__()
        use_bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1  # the last feature layer keeps resolution, as in pix2pix
            layers += [nn.Conv2d(width * prev, width * mult, 4, stride, 1, bias=use_bias),
                       _norm(norm, width * mult), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(width * mult, 1, 4, 1, 1))  # one logit per patch; the loss decides its meaning
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


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
    """G1: photo (3 ch) -> stage-1 image; G2: combine(photo, G1 output) (6 ch) -> catalogue image. Initialised."""
    g1 = UNet(3, 3, cfg.unet_levels, cfg.base_width, cfg.norm, cfg.dropout)
    g2 = UNet(6, 3, cfg.unet_levels, cfg.base_width, cfg.norm, cfg.dropout)
    return init_weights(g1), init_weights(g2)


def build_discriminators(cfg: GANConfig) -> dict[str, PatchDiscriminator]:
    """The three discriminators by name: ``real`` (3 ch), ``assoc1`` and ``assoc2`` (6-ch pairs). Initialised."""
    return {
        "real": init_weights(PatchDiscriminator(3, cfg.disc_width, cfg.n_disc_layers, cfg.norm)),
        "assoc1": init_weights(PatchDiscriminator(6, cfg.disc_width, cfg.n_disc_layers, cfg.norm)),
        "assoc2": init_weights(PatchDiscriminator(6, cfg.disc_width, cfg.n_disc_layers, cfg.norm)),
    }


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
