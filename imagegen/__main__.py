"""Command line: ``python -m imagegen {train,generate} ...``.

    python -m imagegen train --data data/manifest.jsonl --out runs/exp1 --size 64 --steps 20000 --half
    python -m imagegen train --data data/manifest.jsonl --out runs/exp1 --steps 40000 --resume
    python -m imagegen train --data data/manifest.jsonl --out runs/v2-128 --arch v2 --size 128 --steps 20000 --half
    python -m imagegen generate photo.jpg -o out.png --checkpoint runs/exp1/checkpoint.pt --garment top \
        --intermediates out_stages/

Heavy imports (torch, mediapipe, the data module) happen inside the subcommands so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the two-stage GAN on a manifest's train split",
                       description="Train on the manifest's 'train' records (its 'val' records, if any, give the "
                                   "validation metrics stored in the checkpoint). Writes checkpoint.pt, "
                                   "training_state.pt, losses.jsonl, samples.png, loss_plot.png into --out.")
    p.add_argument("--data", required=True, type=Path, help="manifest (JSONL) path")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--size", type=int, default=64, help="image size in pixels (power of two; default 64)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="total optimisation steps")
    length.add_argument("--epochs", type=int, help="passes over the train split (default 100 when --steps is absent)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--base-width", type=int, default=32, help="generator width (default 32: ~8 M parameters at 64 px)")
    p.add_argument("--arch", choices=("v1", "v2", "v3"), default="v1",
                   help="v1: the shipped architecture (default); v2: garment-type conditioning in every network, "
                        "resize-conv up-sampling, spectral-normalised discriminators; v3: v2 with a G1 that warps "
                        "the photo's own pixels and a G2 that refines G1's image (imagegen.networks.ARCHS, "
                        "imagegen.warping). A --resume must use the run's own arch")
    p.add_argument("--levels", type=int, default=0,
                   help="U-Net levels (default: from --size); 6 trains a 128 px model's networks on 64 px images")
    p.add_argument("--init", type=Path, default=None,
                   help="start G1/G2 from this generator checkpoint (the next leg of a progressive run, or a "
                        "committed milestone); discriminators and optimisers start fresh")
    p.add_argument("--warp-weight", type=float, default=None,
                   help="v3: multi-scale warp L1 weight (default 10 for v3, else 0)")
    p.add_argument("--tv-weight", type=float, default=None,
                   help="v3: flow total-variation weight (default 1 for v3, else 0)")
    p.add_argument("--perceptual-weight", type=float, default=0.0,
                   help="EfficientNet-Lite0 perceptual loss weight (default 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (CUDA, and CPUs with AVX512-BF16)")
    p.add_argument("--channels-last", action="store_true", help="NHWC layout (CUDA only)")
    p.add_argument("--fm-weight", type=float, default=0.0,
                   help="feature-matching loss weight (pix2pixHD: 10; default 0, the shipped recipe)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/training_state.pt if present")
    p.add_argument("--half", action="store_true", help="store the generator checkpoint in float16 (half the size)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="preprocessed-photo cache (default: <manifest folder>/.imagegen_cache)")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--sample-every", type=int, default=500)
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--keep-checkpoints", action="store_true",
                   help="keep every --checkpoint-every generator checkpoint as OUT/checkpoints/step_N.pt")
    p.set_defaults(func=_cmd_train)


def _add_generate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="turn one street photo into a catalogue-style image")
    p.add_argument("photo", type=Path)
    p.add_argument("-o", "--output", required=True, type=Path, help="where to write the generated image (PNG)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="generator checkpoint (default: the shipped imagegen/checkpoints/default.pt, else untrained)")
    p.add_argument("--garment", default="top", choices=("top", "bottom", "whole"))
    p.add_argument("--intermediates", type=Path, default=None,
                   help="folder for preprocessed.png, stage1.png and stock.png")
    p.add_argument("--device", default=None, help="auto | cpu | cuda (default auto)")
    p.set_defaults(func=_cmd_generate)


def _cmd_train(args: argparse.Namespace) -> int:
    from imagegen.offline.train import train_from_cli  # lazy: torch and the data only for this subcommand

    return train_from_cli(args)


def _cmd_generate(args: argparse.Namespace) -> int:
    from imagegen import generator, images  # lazy: torch and mediapipe only for this subcommand

    try:
        gen = (generator.StockImageGenerator.from_checkpoint(args.checkpoint, device=args.device) if args.checkpoint
               else generator.StockImageGenerator.default(device=args.device))
        result = gen.generate(images.load_image(args.photo), args.garment)
    except (generator.CheckpointError, images.ImageInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.output.parent.mkdir(parents=True, exist_ok=True)
    result.stock.save(args.output)
    if args.intermediates is not None:
        args.intermediates.mkdir(parents=True, exist_ok=True)
        result.preprocessed.save(args.intermediates / "preprocessed.png")
        result.stage1.save(args.intermediates / "stage1.png")
        result.stock.save(args.intermediates / "stock.png")
    if not gen.trained:
        print("warning: no trained checkpoint; the output comes from an untrained model", file=sys.stderr)
    print(json.dumps({"output": str(args.output), "model": gen.label, "trained": gen.trained,
                      "method": result.method, "warnings": result.warnings, "timings_ms": result.timings_ms}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m imagegen", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_generate(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
