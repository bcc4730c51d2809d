"""Judge a street-photo -> stock-image generator on held-out items, at real catalogue sizes: the full report.

What matters to the business is RETRIEVAL: does searching the catalogue with the generated stock image find the right
product? The generator's images are drawn and judged by ``imagegen.offline.evaluate`` (preprocessing checks, image
quality, garment conditioning); the retrieval curves, galleries, ceiling and gates are ``offline.retrieval``'s (whose
docstring defines every number); the report files are ``offline.evaluation_report``'s. ``evaluate()`` runs them
in order over one manifest split: preprocess each photo once (embedding the raw photos as they come), generate and
judge the images, embed the catalogue and the queries, split the queries by item attributes, rank them per embedder
and gallery size, write the report.

``evaluate()`` returns plain JSON-able dicts (a model-promotion step compares them); the CLI also writes
``metrics.json``, ``metrics.md``, ``examples.png`` (photo | preprocessed | G1 | G2 | ground truth) and
``gallery_curve.png``::

    python -m offline.evaluate_generator --checkpoint PATH --data MANIFEST --split test --out DIR [--untrained]
        [--max-photos N] [--embedder VERSION ...] [--items ITEMS.jsonl] [--gallery-sizes 200,500,1000,2000,all]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imagegen.offline.data import PairRecord, read_manifest
from imagegen.offline.evaluate import (image_size, json_safe, load_generator, model_info, pick_examples,
                                       preprocess_photos, run_generator, select_photos, write_example_grids)
from imagegen.preprocess import get_preprocessor
from offline.evaluation_report import format_markdown, write_gallery_curve
from offline.retrieval import (ALL_LABEL, DEFAULT_GALLERY_SIZES, Embed, RawPhotoEmbeddings, catalogue_of,
                               embed_catalogue, embed_queries, item_breakdown, load_items, normalise_items,
                               plan_galleries, resolve_embedders, retrieval_report)
from search.embedders import get_embedder

__all__ = ["evaluate", "main"]


def evaluate(
    generator: Any,
    records: Sequence[PairRecord],
    split: str | None = "test",
    out_dir: str | Path | None = None,
    embed: Embed | None = None,
    max_photos: int | None = None,
    *,
    embedders: Mapping[str, Any] | None = None,
    items: Mapping[str, Mapping] | Iterable[Mapping] | None = None,
    gallery_sizes: Sequence[int | None] = DEFAULT_GALLERY_SIZES,
    gallery_seed: int = 0,
    preprocessor: Callable[..., Any] | None = None,
    batch_size: int = 32,
    n_examples: int = 8,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``generator`` on the ``split`` photos of ``records``; return a JSON-able metrics dict.

    ``generator`` needs ``forward_preprocessed(Tensor[N,3,S,S]) -> (g1, g2)`` and ``info["image_size"]``; if it
    has a non-empty ``garments`` (a garment-conditioned model, ``GANConfig.garments``), each batch also gets its
    photos' garment types as ``forward_preprocessed(batch, garments)``, as at inference.
    ``embed`` (a function of PIL images) and/or ``embedders`` (name -> function or object with ``embed_images`` and
    optionally ``gate``) are the embedders judged, the first one being the headline; neither means
    ``search.embedders.get_embedder()``. ``preprocessor`` defaults to ``imagegen.preprocess.get_preprocessor(S)``
    (any ``(PIL, garment) -> PreprocessResult``-like callable works). ``items``: item attributes (item_id -> dict, as in
    ``items.jsonl``) for the per-attribute rows, the unseen-combination split and the ceiling.
    ``gallery_sizes``: the curve's gallery sizes (``None`` = every item of ``records``), ``gallery_seed`` the
    seed of the distractor / target choice. ``max_photos`` evaluates a deterministic subset of photos spread over
    items; galleries do not change. With ``out_dir``, writes ``metrics.json``, ``metrics.md``, ``examples.png`` and
    ``gallery_curve.png`` there.
    """
    t_start = time.perf_counter()
    in_split = [r for r in records if split is None or r.split == split]
    if not in_split:
        raise ValueError(f"no records in split {split!r}")
    size = image_size(generator)
    models = resolve_embedders(embed, embedders)
    attrs = normalise_items(items)
    if preprocessor is None:
        preprocessor = get_preprocessor(size)

    catalogue = catalogue_of(records)
    target_ids = sorted({r.item_id for r in in_split})
    galleries, skipped = plan_galleries(len(catalogue.ids), [catalogue.column[i] for i in target_ids], gallery_sizes,
                                        gallery_seed)
    chosen = select_photos(in_split, max_photos)
    targets = np.array([catalogue.column[r.item_id] for r in chosen], dtype=np.int64)
    example_rows = pick_examples(chosen, n_examples) if out_dir is not None else []

    # 1. Preprocess each photo once; score the preprocessor where ground truth exists; embed raw photos as we go.
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    raw = RawPhotoEmbeddings(models, batch_size)
    photos, preprocessing = preprocess_photos(chosen, preprocessor, size, example_rows, raw.add, progress)
    raw.flush()
    timings["preprocess_s"] = time.perf_counter() - t0

    # 2. Generate in batches; image quality against the ground truth; the garment-conditioning check.
    run = run_generator(generator, photos, preprocessor, size, batch_size, timings)

    # 3. Embed the catalogue and the queries.
    t0 = time.perf_counter()
    gallery_vectors = embed_catalogue(models, catalogue, batch_size, progress)
    query_vectors = embed_queries(models, raw, run.preprocessed, run.g1, run.g2, run.blank, batch_size)
    del raw
    timings["embed_s"] = time.perf_counter() - t0

    # 4. Subsets, attributes and the ceiling (embedder-independent).
    t0 = time.perf_counter()
    breakdown = item_breakdown([r.item_id for r in chosen], targets, target_ids, catalogue, attrs, galleries)

    # 5. Retrieval per embedder: one score matrix per query kind, masked per gallery size.
    reports = {
        m.name: retrieval_report(query_vectors[m.name], gallery_vectors[m.name], targets, galleries,
                                 breakdown.subsets, breakdown.ceilings, m.gate, breakdown.attribute_groups)
        for m in models
    }
    timings["retrieval_s"] = time.perf_counter() - t0
    del query_vectors, gallery_vectors

    first = reports[models[0].name]
    head = first["curves"]["all"][ALL_LABEL]
    retrieval = {  # the headline: the first embedder, the largest gallery, all queries (the v1 shape, extended)
        "gallery_items": head["gallery_items"],
        "chance": head["chance"],
        "ceiling": head["ceiling"],
        "queries": head["queries"],
    }
    g2_hit = first.pop("g2_top1_at_all")  # per photo, for the captions of examples.png
    timings["total_s"] = time.perf_counter() - t_start

    g2_by_gallery = {label: (e["queries"].get("g2") or {}).get("top1") for label, e in first["curves"]["all"].items()}
    unseen_head = (first["curves"]["unseen"] or {}).get(ALL_LABEL)
    quality = run.quality
    metrics: dict[str, Any] = {
        "split": split,
        "photos": len(photos),
        "photos_in_split": len(in_split),
        "items": len({p.record.item_id for p in photos}),
        "image_size": size,
        "model": model_info(generator),
        "embedder": models[0].name,
        "embedders": [m.name for m in models],
        "summary": {
            "embedder": models[0].name,
            "gallery_items": head["gallery_items"],
            "g2_top1": head["queries"]["g2"]["top1"],
            "g2_top1_se": head["queries"]["g2"]["top1_se"],
            "g2_top5": head["queries"]["g2"]["top5"],
            "photo_top1": head["queries"]["photo"]["top1"],
            "preprocessed_top1": head["queries"]["preprocessed"]["top1"],
            "blank_top1": head["queries"]["blank"]["top1"],
            "chance_top1": head["chance"]["top1"],
            "ceiling_top1": (head["ceiling"] or {}).get("top1"),
            "g2_fraction_of_ceiling": head["g2_fraction_of_ceiling"],
            "unseen_g2_top1": ((unseen_head or {}).get("queries", {}).get("g2") or {}).get("top1"),
            "g2_ssim": quality["g2"]["ssim"],
            "g2_psnr": quality["g2"]["psnr"],
            "g2_top1_by_gallery": g2_by_gallery,
            # the product's query, where the first embedder fuses G2's output with the photo (else None)
            "query_top1": (head["queries"].get("query") or {}).get("top1"),
            "query_top5": (head["queries"].get("query") or {}).get("top5"),
            "query_top1_by_gallery": {label: (e["queries"].get("query") or {}).get("top1")
                                      for label, e in first["curves"]["all"].items()},
        },
        "gallery": {
            "manifest_items": len(catalogue.ids),
            "target_items": len(target_ids),
            "distractor_pool": len(catalogue.ids) - len(target_ids),
            "seed": gallery_seed,
            "requested": [ALL_LABEL if s is None else int(s) for s in gallery_sizes],
            "skipped": skipped,
            "sizes": {g.label: {"gallery_items": g.size, "target_items": g.targets, "distractor_items": g.distractors,
                                "queries": int(g.columns[targets].sum())} for g in galleries},
        },
        "retrieval": retrieval,
        "curves": {name: rep["curves"] for name, rep in reports.items()},
        "by_attribute": ({name: rep["by_attribute"] for name, rep in reports.items()}
                         if breakdown.attribute_groups else None),
        "unseen_combinations": breakdown.unseen_report,
        "gates": {name: {"threshold": getattr(m.gate, "threshold", None), "margin": getattr(m.gate, "margin", None),
                         "by_gallery": reports[name]["gate"]}
                  for m in models if m.gate is not None for name in [m.name]},
        "attributes": {"items_with_attributes": breakdown.items_with_attributes,
                       "catalogue_items": len(catalogue.ids)},
        "image_quality": {**quality, "l2_scale": "MSE on RGB in [0, 1]", "by_garment": run.quality_by_garment},
        "garment_conditioning": run.conditioning,
        "preprocessing": preprocessing,
        "timings_s": {k.removesuffix("_s"): round(v, 3) for k, v in timings.items()},
    }
    metrics = json_safe(metrics)

    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        grids = write_example_grids(out, run, example_rows, {i: "  (G2 top-1 hit)" for i in example_rows
                                                             if g2_hit[i] >= 1})
        metrics["files"] = {
            "metrics_json": str(out / "metrics.json"),
            "metrics_md": str(out / "metrics.md"),
            "examples_png": grids["examples_png"],
            "gallery_curve_png": str(out / "gallery_curve.png"),
            **({"conditioning_png": grids["conditioning_png"]} if "conditioning_png" in grids else {}),
        }
        write_gallery_curve(metrics, out / "gallery_curve.png")
        (out / "metrics.md").write_text(format_markdown(metrics), encoding="utf-8")
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics


# ------------------------------------------------------------------------------------------------------------ CLI


def _parse_sizes(text: str) -> tuple[int | None, ...]:
    sizes: list[int | None] = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == ALL_LABEL:
            sizes.append(None)
            continue
        try:
            n = int(part.replace("_", ""))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a gallery size: {part!r} (give numbers or 'all')") from None
        if n <= 0:
            raise argparse.ArgumentTypeError(f"gallery size must be positive, got {n}")
        sizes.append(n)
    if not sizes:
        raise argparse.ArgumentTypeError("no gallery size given")
    return tuple(sizes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline.evaluate_generator",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="generator checkpoint (.pt)")
    parser.add_argument("--untrained", action="store_true", help="evaluate an untrained generator (a baseline)")
    parser.add_argument("--image-size", type=int, default=64, help="image size of the untrained generator")
    parser.add_argument("--data", type=Path, required=True, help="manifest (.jsonl or .csv)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for metrics.json, metrics.md, examples.png, gallery_curve.png")
    parser.add_argument("--max-photos", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--embedder", action="append", default=None, metavar="VERSION",
                        help="search embedder version to judge (repeatable; default: the shipped one, "
                             "search.embedders.DEFAULT_VERSION)")
    parser.add_argument("--items", type=Path, default=None,
                        help="item attributes (default: items.jsonl beside the manifest, when it exists)")
    parser.add_argument("--gallery-sizes", type=_parse_sizes, default=DEFAULT_GALLERY_SIZES,
                        help="comma-separated gallery sizes, 'all' = every manifest item "
                             "(default 200,500,1000,2000,all)")
    parser.add_argument("--gallery-seed", type=int, default=0, help="seed of the distractor choice")
    args = parser.parse_args(argv)
    if not args.untrained and args.checkpoint is None:
        parser.error("give --checkpoint PATH or --untrained")
    try:
        records = read_manifest(args.data)
        items_path = args.items or args.data.parent / "items.jsonl"
        if args.items is not None and not items_path.is_file():
            raise ValueError(f"items file not found: {items_path}")
        items = load_items(items_path) if items_path.is_file() else None
        versions = list(dict.fromkeys(args.embedder or [None]))
        resolved = [get_embedder(v) for v in versions]
        embedders = {e.version: e for e in resolved}
        generator = load_generator(args.checkpoint, args.untrained, args.image_size)
        metrics = evaluate(
            generator, records, split=args.split, out_dir=args.out, max_photos=args.max_photos,
            embedders=embedders, items=items, gallery_sizes=args.gallery_sizes, gallery_seed=args.gallery_seed,
            batch_size=args.batch_size, progress=True,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_markdown(metrics))
    print(f"wrote {args.out / 'metrics.json'}, {args.out / 'metrics.md'}, {args.out / 'examples.png'}, "
          f"{args.out / 'gallery_curve.png'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
