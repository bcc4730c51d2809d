"""Is a search answer a confident match? The search stage asks this before it writes the results.

The threshold is the embedder's (``search.embedders.ConfidenceGate``, calibrated on the validation split so that a
confident top-1 is right at least 90 % of the time); this module only applies it:

* hits are aggregated per item (the best score of each item, best first): two catalogue images of one item are one
  answer, not a near tie;
* a photo in which preprocessing found no person (``ImageJob.found_no_person``: the centre-crop fallback) is never
  confident, whatever the scores: the generator was given a crop of nothing in particular;
* nor is one where it found a person but not the requested garment's part of the body (``garment_not_in_photo``:
  a bottom asked of a head-and-shoulders portrait): the generator drew a garment it never saw;
* otherwise the gate decides.

A job that is not confident still ends ``done``: its results are shown as low-confidence candidates."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

NO_PERSON_NOTE = "no person found in the photo: results are a guess"
GARMENT_MISSING_NOTE = "the requested garment is not in the photo: results are a guess"


@dataclass(frozen=True)
class Verdict:
    confident: bool
    note: str  # empty when confident


def item_scores(hits: Iterable) -> list[tuple[int, float]]:
    """(item_id, best score of that item) for each distinct item, best first. `hits` have `.item_id`, `.score`."""
    best: dict[int, float] = {}
    for h in hits:
        if h.item_id not in best or h.score > best[h.item_id]:
            best[h.item_id] = float(h.score)
    return sorted(best.items(), key=lambda kv: -kv[1])


def _why_not(scores: Sequence[float], gate) -> str:
    if not scores:
        return "no confident match: nothing in the catalogue matched"
    top = scores[0]
    if top < gate.threshold:
        return (f"no confident match: best score {top:.2f} is below the confidence threshold "
                f"{gate.threshold:.2f}")
    second = scores[1] if len(scores) > 1 else -1.0
    return (f"no confident match: best score {top:.2f} is only {top - second:.2f} above the next item's "
            f"(at least {gate.margin:.2f} needed)")


def judge(job, hits: Iterable, gate) -> Verdict:
    """The verdict for `job` (an ImageJob after its generate stage) given its usable hits."""
    if job.found_no_person:
        return Verdict(False, NO_PERSON_NOTE)
    if job.garment_not_in_photo:
        return Verdict(False, GARMENT_MISSING_NOTE)
    scores = [s for _, s in item_scores(hits)]
    if gate.is_confident(scores):
        return Verdict(True, "")
    return Verdict(False, _why_not(scores, gate))
