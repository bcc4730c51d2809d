"""One table from several ``offline.evaluate_generator`` results: the generator ablation (issue #10).

    python bench/ablation_table.py NAME=DIR [NAME=DIR ...] [--out docs/generator_v2/ablation.json]

Each DIR holds a ``metrics.json`` of the same test split (same manifest, same gallery seed), so rows compare like
with like. Columns: image quality (G2 SSIM / PSNR, overall and for ``whole`` garments), retrieval at the full gallery
(G1 and G2 top-1 ± s.e. with each embedder), G2 top-5 for the fine patterns against the preprocessed crop's, and the
garment-conditioning rate where the model has one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

PATTERNS = ("stripes", "checks", "dots")


def row(name: str, m: dict) -> dict:
    q = m["image_quality"]
    out = {"run": name, "label": m["model"].get("label"), "step": m["model"].get("step"),
           "g2_ssim": q["g2"]["ssim"], "g2_psnr": q["g2"]["psnr"], "g1_ssim": q["g1"]["ssim"],
           "blank_ssim": q["blank"]["ssim"],
           "whole_g2_ssim": ((q.get("by_garment") or {}).get("whole") or {}).get("g2", {}).get("ssim"),
           "whole_blank_ssim": ((q.get("by_garment") or {}).get("whole") or {}).get("blank", {}).get("ssim"),
           "conditioning": (m.get("garment_conditioning") or {}).get("rate"),
           "conditioned": (m.get("garment_conditioning") or {}).get("conditioned", True)}
    for emb, curves in m["curves"].items():
        full = curves["all"]["all"]["queries"]
        for kind in ("g1", "g2", "preprocessed"):
            out[f"{emb}:{kind}_top1"] = full[kind]["top1"]
            out[f"{emb}:{kind}_top1_se"] = full[kind]["top1_se"]
        pats = (m.get("by_attribute") or {}).get(emb, {}).get("pattern", {})
        for p in PATTERNS:
            if p in pats:
                out[f"{emb}:{p}_g2_top5"] = pats[p]["g2"]["top5"]
                out[f"{emb}:{p}_prep_top5"] = pats[p]["preprocessed"]["top5"]
    return out


def _conditioning(r: dict) -> str:
    if r["conditioning"] is None:
        return "n/a"
    return f"{100 * r['conditioning']:.1f} %" + ("" if r["conditioned"] else " (crop only)")


def markdown(rows: list[dict]) -> str:
    embs = sorted({k.split(":")[0] for r in rows for k in r if ":" in k})
    f = lambda v, pct=False: "n/a" if v is None else (f"{100 * v:.1f}" if pct else f"{v:.3f}")  # noqa: E731
    lines = ["| run | step | G2 SSIM | G2 PSNR dB | G1 SSIM | whole: G2 SSIM (blank image) | type on request |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['step']} | {f(r['g2_ssim'])} | {r['g2_psnr']:.2f} | {f(r['g1_ssim'])} "
                     f"| {f(r['whole_g2_ssim'])} ({f(r['whole_blank_ssim'])}) | {_conditioning(r)} |")
    for emb in embs:
        lines += ["", f"Retrieval with embedder `{emb}`, full gallery (top-1 % ± s.e.; top-5 % for fine patterns, "
                      "G2 vs preprocessed crop):", "",
                  "| run | G1 top-1 | G2 top-1 | " + " | ".join(f"{p} top-5 G2 (crop)" for p in PATTERNS) + " |",
                  "|---|---:|---:|" + "---:|" * len(PATTERNS)]
        for r in rows:
            cells = [f"{f(r.get(f'{emb}:g1_top1'), True)} ± {f(r.get(f'{emb}:g1_top1_se'), True)}",
                     f"{f(r.get(f'{emb}:g2_top1'), True)} ± {f(r.get(f'{emb}:g2_top1_se'), True)}"]
            cells += [f"{f(r.get(f'{emb}:{p}_g2_top5'), True)} ({f(r.get(f'{emb}:{p}_prep_top5'), True)})"
                      for p in PATTERNS]
            lines.append(f"| {r['run']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="NAME=DIR with DIR/metrics.json")
    p.add_argument("--out", type=Path, default=None, help="write the rows as JSON here (and the table beside it, .md)")
    args = p.parse_args(argv)
    rows = []
    for spec in args.runs:
        name, _, d = spec.partition("=")
        rows.append(row(name, json.loads((Path(d) / "metrics.json").read_text())))
    table = markdown(rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
