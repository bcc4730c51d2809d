"""The data versions: what each version of the procedural data draws, as one row of settings per version.

Every stage (catalogue, canvas, person, scene, dataset writer) runs one code path and reads its version's row here;
an item carries its version (``ItemSpec.data_version``), so the person and scene follow the item they draw.

- **1**: the set the shipped generator and embedder were trained on (tops and bottoms, a calm blurred backdrop).
- **2** adds dresses and jumpsuits (garment ``whole``) and skirts, a woven fabric texture, folds on the worn garment,
  photographic backgrounds (rooms, shops, streets, parks, studio) and greyscale / colour-cast photos, and records each
  photo's background and treatment in items.jsonl.

Each version's output is byte-identical to what it was when it was introduced (tests/imagegen/test_synth_versions.py):
a setting that looks arbitrary (a seed tag, a draw order) is kept because the files depend on it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataVersion:
    number: int
    # --- catalogue (garments.make_item)
    item_seed_tag: int                          # mixed into each item's random stream
    garment_weights: dict[str, float]           # garment -> share of the catalogue
    cut_weights: dict[str, dict[str, float]]    # garment -> {cut: share}
    neckline_weights: dict[str, float]          # crew / V-neck shares, for the cuts that have either
    # --- canvas (canvas.build_canvas)
    woven: bool                                 # a twill weave multiplied into every canvas
    # --- person (person.draw_person)
    height_range: tuple[float, float]           # person height / frame height
    folds: bool                                 # seeded drape and creases on the worn garment
    # --- scene (scene.compose_photo)
    bag_share: float                            # photos with a handbag in front of the person
    backdrop: str                               # "calm" or "photographic" (backdrops.BACKDROPS)
    treatment_weights: dict[str, float] | None  # "none" / "greyscale" / "colour cast" shares; None: never drawn
    noise_strength_first: bool                  # draw order of the sensor noise: its strength, then the noise
    # --- dataset (dataset.generate_dataset)
    photo_details: bool                         # items.jsonl: data_version and per-photo background / treatment

    @property
    def cuts(self) -> tuple[str, ...]:
        """Every cut of this version, garment by garment (the order held-out combinations are drawn in)."""
        return tuple(cut for garment in self.garment_weights for cut in self.cut_weights[garment])


TOP_CUT_WEIGHTS = {"t-shirt": 0.36, "long sleeve": 0.24, "tank": 0.16, "hoodie": 0.24}

VERSIONS: dict[int, DataVersion] = {
    1: DataVersion(
        number=1, item_seed_tag=0x17E3,
        garment_weights={"top": 0.62, "bottom": 0.38},
        cut_weights={"top": TOP_CUT_WEIGHTS, "bottom": {"trousers": 0.72, "shorts": 0.28}},
        neckline_weights={"crew": 0.65, "v-neck": 0.35},
        woven=False, height_range=(0.66, 0.9), folds=False,
        bag_share=0.18, backdrop="calm", treatment_weights=None, noise_strength_first=False, photo_details=False),
    2: DataVersion(
        number=2, item_seed_tag=0x17E4,
        garment_weights={"top": 0.42, "bottom": 0.3, "whole": 0.28},
        cut_weights={"top": TOP_CUT_WEIGHTS, "bottom": {"trousers": 0.4, "shorts": 0.25, "skirt": 0.35},
                     "whole": {"dress": 0.62, "jumpsuit": 0.38}},
        neckline_weights={"crew": 0.6, "v-neck": 0.4},
        woven=True, height_range=(0.68, 0.92), folds=True,
        bag_share=0.15, backdrop="photographic",
        treatment_weights={"none": 0.72, "greyscale": 0.13, "colour cast": 0.15},
        noise_strength_first=True, photo_details=True),
}


def data_version(number) -> DataVersion:
    """The settings of data version ``number`` (1 or 2); ValueError for any other."""
    try:
        return VERSIONS[int(number)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"data_version must be 1 or 2, got {number!r}") from None
