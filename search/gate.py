"""How confident a search answer is: the gate every embedder carries (``search.embedders``), calibrated on the
validation split (``python -m offline.embedder_training --calibrate-only``) so that a confident top-1 is right at
least 90 % of the time.

A module of its own, below both ``search.embedders`` (which picks an embedder by version) and ``search.learned`` (the
torch side, which reads a gate from a weights file), so that neither has to import the other to name it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence


@dataclass(frozen=True)
class ConfidenceGate:
    """A score threshold on the best hit (cosine similarity of unit vectors) and, optionally, on its margin over the
    best hit of a *different* item. Both were picked on the validation split (``calibration`` says how)."""

    threshold: float
    margin: float = 0.0
    calibration: dict[str, Any] = field(default_factory=dict, compare=False)

    def is_confident(self, item_scores: Sequence[float]) -> bool:
        """``item_scores``: the best score of each distinct item, best first. An empty list is never confident."""
        if not len(item_scores):
            return False
        top = float(item_scores[0])
        second = float(item_scores[1]) if len(item_scores) > 1 else -1.0
        return top >= self.threshold and (top - second) >= self.margin
