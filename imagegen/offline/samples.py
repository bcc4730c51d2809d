"""Sample grids that show what a checkpoint does where the numbers are hardest to read.

``python -m imagegen.offline.samples --checkpoint CKPT --out DIR [--data MANIFEST]`` writes:

* ``real_photos.png``: real photographs that ship inside installed packages (matplotlib's ``grace_hopper.jpg``,
  scikit-image's ``astronaut.png`` and the greyscale ``camera.png``); nothing is downloaded. Each row: the photo, then
  for every garment type the model knows, the preprocessed crop and G2's output. These people were never drawn by
  the procedural generator, so this is the honest look at how far the model carries.
* ``procedural.png`` (with ``--data``): held-out procedural photos chosen to cover every pattern (stripes, checks,
  dots, motif, colour blocks, solid: ``items.jsonl``'s ``pattern``) and what the v1 data lacked: ``whole`` garments
  (dresses, jumpsuits) and greyscale / colour-cast photos (its ``photo_details``), as photo | preprocessed | G1 |
  G2 | ground truth; for a warping G1 (v3, ``imagegen.warping``) also the warp alone and its visibility mask, the
  two pieces G1's image is made of.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.cbook as cbook
import numpy as np
import torch
from PIL import Image
from skimage import data as skdata

from imagegen.generator import StockImageGenerator
from imagegen.offline.data import load_stock, pil_to_uint8, read_manifest
from imagegen.offline.grids import examples_grid
from imagegen.tensors import to_tensor
from imagegen.warping import FlowGenerator


def packaged_photos() -> list[tuple[str, Image.Image]]:
    """(name, RGB image) of the real photographs found in installed packages; a missing package is skipped."""
    found: list[tuple[str, Image.Image]] = []
    try:
        with cbook.get_sample_data("grace_hopper.jpg") as f:
            found.append(("grace_hopper (matplotlib)", Image.open(f).convert("RGB")))
    except Exception:  # pragma: no cover - matplotlib is a dependency; its sample data may be stripped
        pass
    try:
        found.append(("astronaut (scikit-image)", Image.fromarray(skdata.astronaut()).convert("RGB")))
        found.append(("camera, greyscale (scikit-image)", Image.fromarray(skdata.camera()).convert("RGB")))
    except Exception:  # pragma: no cover
        pass
    return found


def real_photos_grid(generator, photos: Sequence[tuple[str, Image.Image]]) -> Image.Image:
    """photo | (preprocessed, G2) per garment type, one row per photo."""
    types = tuple(generator.garments) or ("top", "bottom", "whole")
    rows, headers = [], ["photo"]
    for g in types:
        headers += [f"crop: {g}", f"G2: {g}"]
    for name, image in photos:
        cells = []
        for g in types:
            result = generator.generate(image, garment=g)
            cells += [np.asarray(result.preprocessed.convert("RGB")), np.asarray(result.stock)]
        rows.append((image, *cells, f"{name}: {result.method}"))
    return examples_grid(rows, headers=headers)


def _details(items_path: Path) -> tuple[dict[str, dict], dict[str, str]]:
    """(photo path as in the manifest, relative -> its photo_details entry; item id -> pattern), from items.jsonl."""
    out: dict[str, dict] = {}
    patterns: dict[str, str] = {}
    if items_path.is_file():
        for line in items_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                patterns[str(item.get("item_id"))] = str(item.get("pattern", ""))
                for d in item.get("photo_details") or []:
                    out[d["photo"]] = d
    return out, patterns


def warp_cells(generator, preprocessed: Image.Image, garment: str) -> list[np.ndarray] | None:
    """[the photo warped alone, its visibility mask] for a warping G1 (``imagegen.warping.FlowGenerator``), else
    None: what G1's image is made of (visibility x warp + (1 - visibility) x residual)."""
    if not isinstance(generator.g1, FlowGenerator):
        return None
    x = to_tensor(preprocessed, generator.image_size).unsqueeze(0)
    with torch.inference_mode():
        parts = generator.g1.parts(x, generator.config.garment_indices(garment, 1))
    warped = ((parts["warped"][0].clamp(-1, 1) * 0.5 + 0.5) * 255).round().byte().permute(1, 2, 0).numpy()
    vis = (parts["visibility"][0, 0].clamp(0, 1) * 255).round().byte().numpy()
    return [warped, np.stack([vis] * 3, axis=-1)]


def procedural_grid(generator, manifest: Path, split: str = "test", per_kind: int = 2) -> Image.Image:
    """Held-out photos: one top or bottom of every pattern, ``per_kind`` more of stripes and checks, ``per_kind`` each
    of a whole garment and a greyscale photo, one colour-cast photo and one bottom; photo | preprocessed | (G1
    warp | G1 visibility, for a warping G1) | G1 | G2 | ground truth."""
    records = [r for r in read_manifest(manifest) if r.split == split]
    details, patterns = _details(manifest.parent / "items.jsonl")

    def treatment(r) -> str:
        rel = str(Path(r.photo).relative_to(manifest.parent.resolve())) if Path(r.photo).is_absolute() else str(r.photo)
        return (details.get(rel) or {}).get("treatment", "none")

    picks, seen = [], set()
    plain = [(f"{p}", lambda r, p=p: patterns.get(r.item_id) == p and r.garment != "whole" and treatment(r) == "none")
             for p in ("stripes", "checks", "dots", "motif", "colour blocks", "solid")]
    wanted = [*plain,
              ("whole", lambda r: r.garment == "whole" and treatment(r) == "none"),
              ("greyscale", lambda r: treatment(r) == "greyscale"),
              ("colour cast", lambda r: treatment(r).startswith("colour")),
              ("bottom", lambda r: r.garment == "bottom" and treatment(r) == "none")]
    for label, test in wanted:
        n = per_kind if label in ("whole", "greyscale", "stripes", "checks") else 1
        for r in records:
            if n and r.item_id not in seen and test(r):
                picks.append((label, r))
                seen.add(r.item_id)
                n -= 1
    size = generator.image_size
    rows, flow = [], None
    for label, r in picks:
        image = Image.open(r.photo).convert("RGB")
        result = generator.generate(image, garment=r.garment)
        flow = warp_cells(generator, result.preprocessed, r.garment)
        rows.append((image, np.asarray(result.preprocessed.convert("RGB")), *(flow or []), np.asarray(result.stage1),
                     np.asarray(result.stock), pil_to_uint8(load_stock(r.stock, size)),
                     f"{label}: item {r.item_id} ({r.garment}, {patterns.get(r.item_id, '?')})"))
    headers = ("photo", "preprocessed", *(("G1 warp", "G1 visibility") if flow else ()), "G1", "G2", "ground truth")
    return examples_grid(rows, headers=headers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagegen.offline.samples", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, default=None, help="generator checkpoint (default: the shipped one)")
    parser.add_argument("--data", type=Path, default=None, help="a procedural manifest for procedural.png")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    generator = (StockImageGenerator.from_checkpoint(args.checkpoint) if args.checkpoint
                 else StockImageGenerator.default())
    args.out.mkdir(parents=True, exist_ok=True)
    photos = packaged_photos()
    real_photos_grid(generator, photos).save(args.out / "real_photos.png")
    print(f"wrote {args.out / 'real_photos.png'} ({len(photos)} photos)")
    if args.data is not None:
        procedural_grid(generator, args.data, args.split).save(args.out / "procedural.png")
        print(f"wrote {args.out / 'procedural.png'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
