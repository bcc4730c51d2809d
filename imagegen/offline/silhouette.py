"""Does a garment-conditioned generator draw the type it was asked for? A mask-shape check.

A catalogue image is a garment on white, so its silhouette (the pixels that are not background) says what it is: a
top is wide at the shoulders and stops at the waist, trousers split into two legs, a dress runs from shoulders to
hem. The check compares silhouettes with those of the ground-truth stock images of known type
and calls an image's type by a vote of the ``K`` ground-truth catalogue images whose silhouettes overlap it best (IoU).
Reported beside it: how often the same check names the ground-truth images themselves correctly, leave-one-out (the
check's own ceiling), so a low score cannot hide behind a bad classifier.

Used by ``evaluate`` when the generator is conditioned: every test photo is preprocessed and generated once per
garment type, as the product does when a user asks for that type (``silhouette_report``), which also measures that
the top / bottom / whole outputs of one photo differ.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

BACKGROUND_LEVEL = 235
"""A pixel whose darkest channel is at or above this is background (catalogue images sit on white; the generators'
white is rarely exactly 255)."""

K = 5
"""Neighbours that vote. On the procedural test split's 200 catalogue images, leave-one-out, k = 1 and k = 5 both
name every type right (100 %), where the nearest *mean* silhouette per type got 85.5 %, calling 29 bottoms "whole"
(skirts and dresses share a flared outline on average; their nearest single examples do not)."""


def silhouette(images: np.ndarray) -> np.ndarray:
    """[N, H, W, 3] uint8 -> [N, H, W] float32 foreground masks (1 = garment)."""
    images = np.asarray(images)
    return (images.min(axis=-1) < BACKGROUND_LEVEL).astype(np.float32)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Binary-mask IoU of every row of ``a`` [N, P] with every row of ``b`` [M, P] (one matrix product)."""
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return inter / np.maximum(union, 1.0)


def classify(images: np.ndarray, bank: np.ndarray, bank_garments: Sequence[str], k: int = K,
             leave_one_out: bool = False) -> list[str]:
    """The majority type among the ``k`` ground-truth silhouettes (``bank``, [M, H, W, 3] uint8) that overlap each
    image's silhouette best (IoU). ``leave_one_out``: ``images`` is the bank itself; an image may not vote for itself.
    """
    a = silhouette(images).reshape(len(images), -1)
    b = silhouette(bank).reshape(len(bank), -1)
    iou = _iou_matrix(a, b)
    if leave_one_out:
        np.fill_diagonal(iou, -1.0)
    labels = np.asarray(bank_garments)
    nearest = np.argsort(-iou, axis=1, kind="stable")[:, :k]
    out = []
    for row in nearest:
        names, counts = np.unique(labels[row], return_counts=True)
        out.append(str(names[counts.argmax()]))
    return out


def silhouette_report(outputs: Mapping[str, np.ndarray], bank: np.ndarray, bank_garments: Sequence[str]) -> dict:
    """``outputs``: requested type -> [N, H, W, 3] uint8, the generator's output for each of N photos when asked for
    that type; ``bank``/``bank_garments``: ground-truth catalogue images (one per item) and their types.

    Returns the share of outputs whose silhouette is the requested type's (overall and per type, with what the
    check called them), the check's leave-one-out accuracy on the bank itself (its ceiling), and the mean absolute
    pixel difference between the types' outputs of one photo (0 would mean the type is ignored), with the share
    of photos whose outputs differ by more than 2 grey levels.
    """
    bank_garments = list(bank_garments)
    known = set(bank_garments)
    truth_pred = classify(bank, bank, bank_garments, leave_one_out=True)
    truth_acc = float(np.mean([p == t for p, t in zip(truth_pred, bank_garments)]))
    per_type, hits, total = {}, 0, 0
    for g, imgs in outputs.items():
        if g not in known:  # a type with no ground-truth images cannot be checked
            continue
        pred = classify(imgs, bank, bank_garments)
        ok = sum(p == g for p in pred)
        per_type[g] = {"n": len(pred), "rate": ok / max(len(pred), 1),
                       "called": {c: pred.count(c) for c in sorted(set(pred))}}
        hits, total = hits + ok, total + len(pred)
    names = sorted(outputs)
    diffs = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            d = np.abs(outputs[a].astype(np.int16) - outputs[b].astype(np.int16)).mean(axis=(1, 2, 3))
            diffs[f"{a}-{b}"] = {"mean_abs_diff": float(d.mean()), "share_differ": float((d > 2.0).mean())}
    return {"rate": hits / max(total, 1), "n": total, "per_type": per_type, "truth_accuracy": truth_acc,
            "bank_items": len(bank_garments), "k": K, "pairwise": diffs, "background_level": BACKGROUND_LEVEL}


__all__ = ["BACKGROUND_LEVEL", "K", "classify", "silhouette", "silhouette_report"]
