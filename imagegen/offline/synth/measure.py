"""Does the real preprocessing see the drawn people? Pose detection rate and segmentation IoU.

The synthetic photos are only useful if mediapipe (what ``imagegen.preprocess`` runs on real
photos) finds the person in them the way it would in a real photo: otherwise training crops
are wrong. This runs the real models on generated photos and compares with the ground truth
written by the generator, using the criteria of docs/FACTS.md:
pose OK = landmarks returned AND shoulders and hips (11, 12, 23, 24) each within 0.1 x image
height of the drawn joints; IoU = mediapipe mask > 0.5 against the rendered person mask.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

TORSO = {"left_shoulder": 11, "right_shoulder": 12, "left_hip": 23, "right_hip": 24}
SWAP = {"left_shoulder": 12, "right_shoulder": 11, "left_hip": 24, "right_hip": 23}


def _pick_rows(manifest: Path, n: int) -> list[dict]:
    rows = [json.loads(line) for line in open(manifest, encoding="utf-8") if line.strip()]
    if len(rows) <= n:
        return rows
    idx = np.linspace(0, len(rows) - 1, n).round().astype(int)  # spread over items, deterministic
    return [rows[i] for i in idx]


def _photo_details(base: Path) -> dict[str, dict]:
    """photo path -> {"background", "treatment"} from a v2 items.jsonl (``photo_details``); empty for v1 sets."""
    path = base / "items.jsonl"
    if not path.is_file():
        return {}
    out = {}
    for line in open(path, encoding="utf-8"):
        if line.strip():
            for d in json.loads(line).get("photo_details", []):
                out[d["photo"]] = d
    return out


def _torso_error(landmarks, kps: dict, order: dict, w: int, h: int) -> float:
    errs = []
    for name, i in order.items():
        lm = landmarks.landmark[i]
        gx, gy = kps[name]
        errs.append(np.hypot(lm.x * w - gx, lm.y * h - gy) / h)
    return float(max(errs))


def measure_preprocessing(manifest, n: int = 100, seg_models=(0, 1)) -> dict:
    """Run mediapipe Pose (static, complexity 1) and SelfieSegmentation on ``n`` photos of ``manifest``."""
    import mediapipe as mp  # lazy: mediapipe (TF Lite graphs) loads only when a measurement runs

    manifest = Path(manifest)
    base = manifest.parent
    rows = _pick_rows(manifest, n)
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1)
    segs = {m: mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=m) for m in seg_models}
    try:
        first = np.asarray(Image.open(base / rows[0]["photo"]).convert("RGB"))
        pose.process(first)  # warm-up: the first call loads and compiles the graph
        for s in segs.values():
            s.process(first)
        detected = ok = swapped = 0
        errors, t_pose = [], []
        ious = {m: [] for m in seg_models}
        t_seg = {m: [] for m in seg_models}
        by_garment: dict[str, list[int]] = {}
        iou_by: dict[str, dict[str, list[float]]] = {"garment": {}, "background": {}, "treatment": {}}
        pose_by: dict[str, dict[str, list[int]]] = {"background": {}, "treatment": {}}
        details = _photo_details(base)
        for row in rows:
            img = np.asarray(Image.open(base / row["photo"]).convert("RGB"))
            h, w = img.shape[:2]
            kps = row["keypoints"]
            t0 = time.perf_counter()
            res = pose.process(img)
            t_pose.append(time.perf_counter() - t0)
            good = False
            if res.pose_landmarks is not None:
                detected += 1
                err = _torso_error(res.pose_landmarks, kps, TORSO, w, h)
                errors.append(err)
                good = err <= 0.1
                swapped += int(not good and _torso_error(res.pose_landmarks, kps, SWAP, w, h) <= 0.1)
            ok += int(good)
            by_garment.setdefault(row["garment"], []).append(int(good))
            detail = details.get(row["photo"], {})
            for key in ("background", "treatment"):
                if key in detail:
                    pose_by[key].setdefault(detail[key].split(":")[0] if key == "treatment" else detail[key], []).append(int(good))
            gt = np.asarray(Image.open(base / row["mask"]).convert("L")) > 127
            for m, seg in segs.items():
                t0 = time.perf_counter()
                out = seg.process(img).segmentation_mask
                t_seg[m].append(time.perf_counter() - t0)
                pred = out > 0.5
                union = np.logical_or(pred, gt).sum()
                ious[m].append(float(np.logical_and(pred, gt).sum() / union) if union else 1.0)
            first_model = ious[seg_models[0]][-1]
            iou_by["garment"].setdefault(row["garment"], []).append(first_model)
            for key in ("background", "treatment"):
                if key in detail:
                    iou_by[key].setdefault(detail[key].split(":")[0] if key == "treatment" else detail[key], []).append(first_model)
    finally:
        pose.close()
        for s in segs.values():
            s.close()
    total = len(rows)
    report = {
        "n": total,
        "image_size": int(h),
        "pose_detected": detected / total,
        "pose_ok": ok / total,
        "pose_swapped_lr": swapped / total,
        "pose_ok_by_garment": {g: float(np.mean(v)) for g, v in sorted(by_garment.items())},
        "photos_by_garment": {g: len(v) for g, v in sorted(by_garment.items())},
        # Median IoU of the first segmentation model (model 0: what imagegen.preprocess runs) per group.
        "iou_median_by_garment": {g: float(np.median(v)) for g, v in sorted(iou_by["garment"].items())},
        "iou_median_by_background": {g: float(np.median(v)) for g, v in sorted(iou_by["background"].items())},
        "iou_median_by_treatment": {g: float(np.median(v)) for g, v in sorted(iou_by["treatment"].items())},
        "pose_ok_by_background": {g: float(np.mean(v)) for g, v in sorted(pose_by["background"].items())},
        "pose_ok_by_treatment": {g: float(np.mean(v)) for g, v in sorted(pose_by["treatment"].items())},
        "torso_error_median_h": float(np.median(errors)) if errors else None,
        "segmentation": {
            f"model_{m}": {"iou_median": float(np.median(v)), "iou_mean": float(np.mean(v)),
                           "frac_iou_ge_0.8": float(np.mean(np.array(v) >= 0.8))}
            for m, v in ious.items()},
        "ms_per_image": {"pose": 1000 * float(np.mean(t_pose)),
                         **{f"segmentation_model_{m}": 1000 * float(np.mean(v)) for m, v in t_seg.items()}},
    }
    return report


def format_report(r: dict) -> str:
    """The table the CLI prints."""
    lines = [f"mediapipe on {r['n']} generated photos ({r['image_size']} px)",
             f"  pose detected            {r['pose_detected']:.2f}",
             f"  pose OK (torso <= 0.1 H) {r['pose_ok']:.2f}   (swapped L/R {r['pose_swapped_lr']:.2f}, "
             f"median torso error {r['torso_error_median_h'] or float('nan'):.3f} H)",
             "  pose OK by garment       " + ", ".join(f"{g} {v:.2f}" for g, v in r["pose_ok_by_garment"].items()),
             "  IoU (model 0) by garment " + ", ".join(f"{g} {v:.3f}" for g, v in r.get("iou_median_by_garment", {}).items()),
             "  segmentation             IoU median   mean   >=0.8"]
    for name, s in r["segmentation"].items():
        lines.append(f"    {name:<22} {s['iou_median']:.3f}      {s['iou_mean']:.3f}  {s['frac_iou_ge_0.8']:.2f}")
    for key in ("background", "treatment"):
        if r.get(f"iou_median_by_{key}"):
            lines.append(f"  by {key:<22}" + ", ".join(
                f"{g} pose {r[f'pose_ok_by_{key}'].get(g, float('nan')):.2f} IoU {v:.3f}"
                for g, v in r[f"iou_median_by_{key}"].items()))
    lines.append("  ms/image                 " + ", ".join(f"{k} {v:.1f}" for k, v in r["ms_per_image"].items()))
    return "\n".join(lines)
