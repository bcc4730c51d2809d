"""Human-readable reports of an ``offline.evaluate_generator.evaluate()`` result: ``metrics.md`` and
``gallery_curve.png``.

Works on the JSON-able metrics dict only (so an old ``metrics.json`` can be re-rendered), no Django, no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

QUERY_LABELS = {
    "photo": "raw street photo",
    "preprocessed": "preprocessed photo",
    "g1": "G1 output",
    "g2": "G2 output (two-stage)",
    "query": "product query: G2 output + preprocessed photo",
    "blank": "blank white image (baseline)",
}
QUERY_ORDER: tuple[str, ...] = ("photo", "preprocessed", "g1", "g2", "query", "blank")
SUBSET_TITLES = {
    "all": "all {split} queries",
    "seen": "combinations seen in training",
    "unseen": "cut x pattern x colour combinations never seen in training",
}


def _fmt(value: Any, pct: bool = False, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if pct:
        return f"{100 * value:.1f} %"
    return f"{value:.{digits}f}"


def _pct_se(entry: dict | None, key: str, se: bool = True) -> str:
    """``52.0 ±2.5`` (percent; the ± is one standard error)."""
    if not entry or entry.get(key) is None:
        return "n/a"
    text = f"{100 * entry[key]:.1f}"
    if se and entry.get(f"{key}_se") is not None:
        text += f" ±{100 * entry[f'{key}_se']:.1f}"
    return text


def _num_se(entry: dict | None, key: str, digits: int = 3) -> str:
    if not entry or entry.get(key) is None:
        return "n/a"
    text = f"{entry[key]:.{digits}f}"
    if entry.get(f"{key}_se") is not None:
        text += f" ±{entry[f'{key}_se']:.{digits}f}"
    return text


def _size_header(label: str, metrics: dict) -> str:
    sizes = metrics.get("gallery", {}).get("sizes", {})
    if label == "all":
        return f"all ({sizes.get('all', {}).get('gallery_items', '?')})"
    return f"{int(label):,}"


def _curve_table(curve: dict, metrics: dict) -> list[str]:
    labels = list(curve)
    lines = [
        "| query | " + " | ".join(_size_header(label, metrics) for label in labels) + " |",
        "|---|" + "---:|" * len(labels),
    ]

    def cells(fn) -> str:
        return " | ".join(fn(curve[label]) for label in labels)

    lines.append("| chance level | " + cells(lambda e: f"{_pct_se(e['chance'], 'top1', False)} / "
                                                   f"{_pct_se(e['chance'], 'top5', False)}") + " |")
    for kind in QUERY_ORDER:
        if not any(kind in curve[label]["queries"] for label in labels):
            continue
        lines.append(f"| {QUERY_LABELS[kind]} | " + cells(
            lambda e: f"{_pct_se(e['queries'].get(kind), 'top1')} / {_pct_se(e['queries'].get(kind), 'top5')}") + " |")
    if any(curve[label].get("ceiling") for label in labels):
        lines.append("| ceiling (spec look-alikes) | " + cells(
            lambda e: f"{_pct_se(e.get('ceiling'), 'top1', False)} / {_pct_se(e.get('ceiling'), 'top5', False)}")
            + " |")
        lines.append("| G2 output top-1 as share of the ceiling | " + cells(
            lambda e: _fmt(e.get("g2_fraction_of_ceiling"), True)) + " |")
    lines.append("| queries | " + cells(lambda e: str(e.get("queries_n", "?"))) + " |")
    return lines


def _detail_table(entry: dict) -> list[str]:
    lines = [
        "| query | top-1 % | top-5 % | top-20 % | MRR | median rank |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    chance = entry["chance"]
    lines.append(
        f"| chance level | {_pct_se(chance, 'top1', False)} | {_pct_se(chance, 'top5', False)} | "
        f"{_pct_se(chance, 'top20', False)} | {_fmt(chance['mrr'])} | {_fmt(chance.get('median_rank'), digits=1)} |"
    )
    for kind in QUERY_ORDER:
        q = entry["queries"].get(kind)
        if q is None:
            continue
        lines.append(
            f"| {QUERY_LABELS[kind]} | {_pct_se(q, 'top1')} | {_pct_se(q, 'top5')} | {_pct_se(q, 'top20')} "
            f"| {_num_se(q, 'mrr')} | {_fmt(q.get('median_rank'), digits=1)} |"
        )
    ceiling = entry.get("ceiling")
    if ceiling:
        lines.append(
            f"| ceiling (spec look-alikes) | {_pct_se(ceiling, 'top1', False)} | {_pct_se(ceiling, 'top5', False)} "
            f"| {_pct_se(ceiling, 'top20', False)} | {_fmt(ceiling.get('mrr'))} | |"
        )
    return lines


def _attribute_table(attr: str, rows: dict) -> list[str]:
    fused = any("query" in by_kind for by_kind in rows.values())  # an embedder whose query fuses G2 and the photo
    lines = [
        f"| {attr} | queries | G2 top-1 % | G2 top-5 % | G2 MRR | preprocessed top-1 % | preprocessed top-5 % "
        "| preprocessed MRR |" + (" product query top-1 % | product query top-5 % |" if fused else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if fused else ""),
    ]
    for value, by_kind in rows.items():
        g2, prep, query = by_kind.get("g2"), by_kind.get("preprocessed"), by_kind.get("query")
        n = (g2 or prep or {}).get("n", 0)
        lines.append(
            f"| {value} | {n} | {_pct_se(g2, 'top1')} | {_pct_se(g2, 'top5')} | {_num_se(g2, 'mrr')} "
            f"| {_pct_se(prep, 'top1')} | {_pct_se(prep, 'top5')} | {_num_se(prep, 'mrr')} |"
            + (f" {_pct_se(query, 'top1')} | {_pct_se(query, 'top5')} |" if fused else "")
        )
    return lines


def format_markdown(metrics: dict[str, Any]) -> str:
    """A human-readable report of an ``evaluate()`` result."""
    model = metrics.get("model", {})
    split = metrics.get("split")
    embedders = metrics.get("embedders") or [metrics.get("embedder")]
    gallery = metrics.get("gallery", {})
    ret = metrics["retrieval"]
    n = ret["gallery_items"]
    lines = [
        f"# Generator evaluation: split `{split}`",
        "",
        f"Model `{model.get('label') or 'unknown'}` (trained: {model.get('trained')}, step {model.get('step')}), "
        f"image size {metrics['image_size']} px; {metrics['photos']} photos of {metrics['items']} items; "
        "embedder" + ("s " if len(embedders) > 1 else " ") + ", ".join(f"`{e}`" for e in embedders) + ".",
        "",
        f"## Retrieval (gallery: up to {n} catalogue images, one per item)",
        "",
    ]
    if gallery:
        lines += [
            f"The catalogue holds {gallery.get('manifest_items')} items: {gallery.get('target_items')} of split "
            f"`{split}` (the targets) and {gallery.get('distractor_pool')} distractors from the other splits. "
            "A gallery of N items holds every target plus N - targets random distractors (fewer than the targets: a random "
            f"subset of targets, and only their queries count); galleries are nested, seed {gallery.get('seed')}."
            + (f" Sizes skipped (larger than the catalogue): {', '.join(map(str, gallery['skipped']))}."
               if gallery.get("skipped") else ""),
            "Cells are top-1 / top-5 in %, ± one standard error over queries (photos of one item are not independent, "
            "so the true error is somewhat larger). Ties are ordered at random in expectation.",
            "",
        ]
    curves = metrics.get("curves") or {}
    for emb in embedders:
        per_subset = curves.get(emb) or {}
        for subset in ("all", "seen", "unseen"):
            curve = per_subset.get(subset)
            if not curve:
                continue
            title = SUBSET_TITLES[subset].format(split=split)
            lines += [f"### Gallery-size curve: embedder `{emb}`, {title}", ""]
            lines += _curve_table(curve, metrics)
            lines.append("")
        full = (per_subset.get("all") or {}).get("all")
        if full:
            lines += [f"### Embedder `{emb}` at the full gallery ({full['gallery_items']} items)", ""]
            lines += _detail_table(full)
            lines.append("")
    if not curves:  # a v1 result: one gallery only
        lines += _detail_table({**ret, "chance": {**ret["chance"], "median_rank": (n + 1) / 2}})
        lines.append("")

    unseen = metrics.get("unseen_combinations")
    lines += ["## Unseen combinations", ""]
    if unseen:
        lines += [
            f"{unseen['unseen_items']} of {unseen['target_items']} target items have a cut x pattern x colour "
            f"combination that no train item has ({unseen['queries']['unseen']} queries); {unseen['seen_items']} "
            f"are seen ({unseen['queries']['seen']} queries); {unseen['items_without_attributes']} have no "
            f"attributes. items.jsonl flags {unseen['flagged_items']} as held out"
            + (f" ({unseen['flagged_but_seen']} of them do occur in train)" if unseen.get("flagged_but_seen") else "")
            + ".",
            "",
        ]
    else:
        lines += ["n/a: no item attributes (items.jsonl) were given.", ""]

    by_attribute = metrics.get("by_attribute")
    lines += ["## Per pattern and per garment type (full gallery)", ""]
    if by_attribute:
        for emb in embedders:
            for attr, rows in (by_attribute.get(emb) or {}).items():
                if not rows:
                    continue
                lines += [f"Embedder `{emb}`, by {attr}:", ""]
                lines += _attribute_table(attr, rows)
                lines.append("")
    else:
        lines += ["n/a: no item attributes (items.jsonl) were given.", ""]

    gates = metrics.get("gates") or {}
    if gates:
        lines += ["## Confidence gate (on the product's query: G2 output, with the photo where the embedder fuses it)",
                  ""]
        for emb, gate in gates.items():
            lines += [
                f"Embedder `{emb}` (threshold {gate.get('threshold')}, margin {gate.get('margin')}). "
                "Coverage: share of queries judged confident; confident precision: share of those whose top-1 is the target; a good gate "
                "judges no blank query confident.",
                "",
                "| gallery | queries | coverage | confident precision | blank queries judged confident |",
                "|---|---:|---:|---:|---:|",
            ]
            for label, row in (gate.get("by_gallery") or {}).items():
                lines.append(
                    f"| {_size_header(label, metrics)} | {row['queries']} | {_fmt(row['coverage'], True)} "
                    f"| {_fmt(row['confident_precision'], True)} | {row['blank_confident']} of {row['blank_queries']} |"
                )
            lines.append("")

    quality = metrics["image_quality"]
    lines += [
        "## Image quality vs the ground-truth stock image (mean over photos)",
        "",
        "| output | SSIM (higher is better) | PSNR dB (higher is better) | L2 = MSE on [0, 1] (lower is better) |",
        "|---|---:|---:|---:|",
    ]
    for name, label in (("blank", "blank white image (baseline)"), ("preprocessed", "preprocessed photo (baseline)"),
                        ("g1", "G1"), ("g2", "G2")):
        q = quality.get(name)
        if q:
            lines.append(f"| {label} | {_fmt(q['ssim'])} | {_fmt(q['psnr'], digits=2)} | {_fmt(q['l2'], digits=4)} |")
    by_garment = quality.get("by_garment") or {}
    if by_garment:
        lines += [
            "",
            "By garment type (SSIM / PSNR dB):",
            "",
            "| garment | photos | blank white image | G1 | G2 |",
            "|---|---:|---:|---:|---:|",
        ]
        for g, row in by_garment.items():
            cells = " | ".join(f"{_fmt(row[k]['ssim'])} / {_fmt(row[k]['psnr'], digits=2)}" for k in ("blank", "g1", "g2"))
            lines.append(f"| {g} | {row['photos']} | {cells} |")
    lines += _conditioning_lines(metrics.get("garment_conditioning"))
    prep = metrics["preprocessing"]
    pose, iou, crop = prep["pose_detection"], prep["mask_iou"], prep["crop_hit"]
    tolerance = prep.get("pose_tolerance", 0.1)
    lines += [
        "",
        "## Preprocessing (where the manifest has ground truth)",
        "",
        "| check | value | photos with ground truth |",
        "|---|---:|---:|",
        f"| pose detection rate (4 torso points within {tolerance} x height) | {_fmt(pose['rate'], True)} "
        f"| {pose['photos']} |",
        f"| person mask IoU, mean | {_fmt(iou['mean'])} | {iou['photos']} |",
        f"| person mask IoU, median | {_fmt(iou['median'])} | {iou['photos']} |",
        f"| crop contains the garment keypoints | {_fmt(crop['rate'], True)} | {crop['photos']} |",
        "",
        "Methods used: " + (", ".join(f"{m} {c}" for m, c in prep["methods"].items()) or "none")
        + f"; warnings: {prep['warnings']}.",
        "",
        "Timings (s): " + ", ".join(f"{k} {v}" for k, v in metrics.get("timings_s", {}).items()) + ".",
        "",
    ]
    return "\n".join(lines)


def _conditioning_lines(report: dict[str, Any] | None) -> list[str]:
    """The garment-conditioning section: silhouette of the requested type, and whether outputs differ by type."""
    lines = ["", "## Garment type on request (every photo preprocessed and generated as each type; "
             "`imagegen.offline.silhouette`)", ""]
    if not report:
        return lines + ["n/a: the evaluated photos are all of one garment type.", ""]
    if not report.get("conditioned", True):
        lines += ["This model is not conditioned on the type (v1): only the crop follows the request.", ""]
    lines += [
        f"Outputs with the requested type's silhouette: **{_fmt(report['rate'], True)}** of {report['n']} "
        f"(the same check names the ground-truth images' own type in {_fmt(report['truth_accuracy'], True)} of cases).",
        "",
        "| requested | outputs | with its silhouette | called |",
        "|---|---:|---:|---|",
    ]
    for g, row in report["per_type"].items():
        called = ", ".join(f"{k} {v}" for k, v in row["called"].items())
        lines.append(f"| {g} | {row['n']} | {_fmt(row['rate'], True)} | {called} |")
    lines += ["", "| outputs of one photo | mean abs. difference (0-255) | photos whose outputs differ (> 2 levels) |",
              "|---|---:|---:|"]
    for pair, row in report["pairwise"].items():
        lines.append(f"| {pair.replace('-', ' vs ')} | {row['mean_abs_diff']:.1f} | {_fmt(row['share_differ'], True)} |")
    return lines + [""]


def write_gallery_curve(metrics: dict[str, Any], path: str | Path,
                        kinds: Sequence[str] = ("g2", "query", "preprocessed")):
    """Top-1 against gallery size (log x): one line per embedder x query kind, the ceiling dashed, chance dotted."""
    sizes = metrics.get("gallery", {}).get("sizes", {})
    curves = metrics.get("curves") or {}
    fig = Figure(figsize=(6.4, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    styles = {"g2": "-o", "query": "-D", "preprocessed": "-s", "photo": "-^", "g1": "-v", "blank": "-x"}
    ceiling_drawn = False
    for emb, per_subset in curves.items():
        curve = (per_subset or {}).get("all") or {}
        points = sorted(((sizes.get(label, {}).get("gallery_items") or e["gallery_items"]), label)
                        for label, e in curve.items())
        xs = [x for x, _ in points]
        for kind in kinds:
            ys = [((curve[label]["queries"].get(kind) or {}).get("top1")) for _, label in points]
            if any(y is not None for y in ys):
                ax.plot(xs, [100 * (y or 0.0) for y in ys], styles.get(kind, "-o"), label=f"{emb}: {kind}",
                        markersize=4)
        if not ceiling_drawn:
            ceil = [((curve[label].get("ceiling") or {}).get("top1")) for _, label in points]
            if any(c is not None for c in ceil):
                ax.plot(xs, [100 * (c or 0.0) for c in ceil], "k--", label="ceiling (spec look-alikes)", linewidth=1)
            ax.plot(xs, [100 * curve[label]["chance"]["top1"] for _, label in points], "k:", label="chance",
                    linewidth=1)
            ceiling_drawn = True
    ax.set_xscale("log")
    ticks = sorted({(sizes.get(label, {}).get("gallery_items") or e["gallery_items"])
                    for per_subset in curves.values() for label, e in ((per_subset or {}).get("all") or {}).items()})
    if ticks:
        shown: list[int] = []
        for t in reversed(ticks):  # labels closer than x1.3 would overlap on a log axis; keep the largest
            if not shown or 1.3 * t <= shown[-1]:
                shown.append(t)
        shown.reverse()
        ax.set_xticks(shown, [f"{t:,}" for t in shown])
        ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("gallery size (catalogue items)")
    ax.set_ylabel("top-1 %")
    ax.set_ylim(0, 100)
    ax.set_title(f"Top-1 vs gallery size, split {metrics.get('split')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(str(path))
    return Path(path)
