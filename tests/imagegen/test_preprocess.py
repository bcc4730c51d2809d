"""imagegen.preprocess on a real photograph (matplotlib's grace_hopper.jpg, a portrait),
on a photo with no person, and on synthetic landmarks for the crop/fallback logic."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imagegen.images import ImageInputError
from imagegen.preprocess import GARMENTS, METHODS, PreprocessResult, get_preprocessor

SIZE = 64
# mediapipe 0.10.14 calls a protobuf API that protobuf 4 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:SymbolDatabase.GetPrototype:UserWarning")


@pytest.fixture(scope="module")
def grace() -> Path:
    import matplotlib.cbook

    path = Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def pre():
    return get_preprocessor(SIZE)


def assert_valid(r: PreprocessResult, size: int = SIZE) -> None:
    assert isinstance(r.image, Image.Image) and r.image.mode == "RGB" and r.image.size == (size, size)
    assert r.method in METHODS
    l, t, rt, b = r.crop_box
    assert rt - l == b - t > 0  # square, so the resize never distorts
    assert set(r.timings_ms) >= {"segmentation", "pose", "crop", "total"}


def test_portrait_top_is_shoulders_plus_mask(pre, grace: Path) -> None:
    r = pre(grace, garment="top")
    assert_valid(r)
    assert r.method == "shoulders+mask"
    assert any("hips" in w for w in r.warnings), r.warnings

    # Landmarks are in source pixels (the photo is 512 x 600) and the shoulders are found.
    kp = r.keypoints
    assert kp is not None and len(kp) == 33
    (lx, ly, lv), (rx, ry, rv) = kp["left_shoulder"], kp["right_shoulder"]
    assert lv > 0.9 and rv > 0.9 and 300 < ly < 550 and 300 < ry < 550
    assert lx > 350 and rx < 160  # subject's left shoulder is on the image's right
    assert kp["left_hip"][2] < 0.5  # hips are below the frame

    # The crop frames the shoulders/torso, not the face: both shoulders inside, top below the eyes.
    l, t, rt, b = r.crop_box
    assert l <= rx and lx <= rt and t <= min(ly, ry) and max(ly, ry) <= b
    assert t > max(kp["left_eye"][1], kp["right_eye"][1])

    arr = np.asarray(r.image).astype(float)
    for corner in (arr[:4, :4], arr[:4, -4:], arr[-4:, :4], arr[-4:, -4:]):
        assert corner.mean() > 235  # background (flag, blue wall) removed, padding white
    lum = arr.mean(axis=2)
    assert (lum < 80).mean() > 0.25  # mostly the dark uniform

    # Mask: float32 in [0, 1] at source size, person in the middle, wall at the top corners.
    assert r.mask is not None and r.mask.dtype == np.float32 and r.mask.shape == (600, 512)
    assert 0.0 <= r.mask.min() and r.mask.max() <= 1.0
    assert r.mask[500, 256] > 0.9 and r.mask[5, 5] < 0.1 and r.mask[5, -5] < 0.1


def test_portrait_whole_and_bottom_still_give_images(pre, grace: Path) -> None:
    whole = pre(grace, garment="whole", size=48)
    assert_valid(whole, size=48)
    assert whole.method == "keypoints"
    assert np.asarray(whole.image)[:2, :2].mean() > 235
    bottom = pre(grace, garment="bottom")
    assert_valid(bottom)
    assert bottom.method == "mask_bbox" and any("hips" in w for w in bottom.warnings)


def test_a_portrait_asked_for_a_bottom_or_a_whole_garment_says_it_is_not_in_the_photo(pre, grace: Path) -> None:
    from imagegen.preprocess import GARMENT_MISSING

    for garment in ("bottom", "whole"):  # her hips are below the frame: neither garment is in the photo
        r = pre(grace, garment=garment)
        assert f"hips not visible: the requested garment ({garment}) {GARMENT_MISSING}" in r.warnings, r.warnings
    assert not any(GARMENT_MISSING in w for w in pre(grace, garment="top").warnings)  # her jacket is


def test_no_person_is_centre_crop(pre) -> None:
    y, x = np.mgrid[0:200, 0:300]
    grad = np.stack([x * 255 // 299, y * 255 // 199, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    r = pre(Image.fromarray(grad), garment="top")
    assert_valid(r)
    assert r.method == "centre"
    assert r.warnings == ["no person detected: centre crop"]
    assert r.crop_box == (50, 0, 250, 200)
    # The original photo, not a whitened one: its colours survive.
    out = np.asarray(r.image).astype(int)
    assert out[:, :, 0].max() - out[:, :, 0].min() > 100 and out.mean() < 200


def test_large_photo_runs_downscaled_and_maps_back(pre, grace: Path) -> None:
    small = pre(grace)
    im = Image.open(grace)
    big = im.resize((im.width * 2, im.height * 2), Image.Resampling.BILINEAR)  # 1024 x 1200 > max_side
    r = pre(big)
    assert_valid(r)
    assert r.method == "shoulders+mask"
    assert r.mask.shape == (1200, 1024)
    for name in ("left_shoulder", "right_shoulder", "nose"):
        (x1, y1, _), (x2, y2, _) = small.keypoints[name], r.keypoints[name]
        assert abs(x2 - 2 * x1) < 0.03 * 1024 and abs(y2 - 2 * y1) < 0.03 * 1200, name


def test_bad_input_and_bad_garment(pre) -> None:
    with pytest.raises(ImageInputError):
        pre(b"definitely not an image")
    with pytest.raises(ValueError, match="garment"):
        pre(Image.new("RGB", (64, 64)), garment="hat")
    assert GARMENTS == ("top", "bottom", "whole")


# ------------------------------------------------------------ crop logic, synthetic pose


def fake_pose(points: dict[int, tuple[float, float, float]]):
    """A stand-in for Preprocessor._find_pose returning the given landmarks (others invisible)."""

    def find(self, work, src_size):
        kp = {name: (0.0, 0.0, 0.0) for name in self._names}
        for i, xyv in points.items():
            kp[self._names[i]] = xyv
        return kp

    return find


STANDING = {  # a person standing in a 300 x 400 photo: index -> (x, y, visibility)
    0: (150, 40, 0.99),
    11: (180, 90, 0.99), 12: (120, 90, 0.99),
    23: (170, 200, 0.99), 24: (130, 200, 0.99),
    25: (170, 280, 0.99), 26: (130, 280, 0.99),
    27: (170, 360, 0.99), 28: (130, 360, 0.99),
}


@pytest.fixture()
def standing_photo() -> Image.Image:
    arr = np.full((400, 300, 3), 200, dtype=np.uint8)
    arr[30:380, 110:190] = (40, 40, 120)  # a blue "person" block
    return Image.fromarray(arr)


def test_keypoints_crop_top_and_bottom(pre, standing_photo, monkeypatch) -> None:
    monkeypatch.setattr(type(pre), "_find_pose", fake_pose(STANDING))
    top = pre(standing_photo, garment="top")
    assert_valid(top)
    assert top.method == "keypoints" and top.warnings[:1] != ["no person detected: centre crop"]
    l, t, r, b = top.crop_box
    assert l <= 120 and r >= 180 and t <= 90 and b >= 200  # all four torso points inside
    assert t > 40 - 5 and b < 280  # neither the whole head nor the knees
    bottom = pre(standing_photo, garment="bottom")
    assert bottom.method == "keypoints"
    l, t, r, b = bottom.crop_box
    assert t <= 200 and b >= 360 and t > 90  # hips to ankles, shoulders excluded


def test_bottom_without_ankles_extends_from_hips(pre, standing_photo, monkeypatch) -> None:
    no_ankles = {i: v for i, v in STANDING.items() if i not in (27, 28)}
    monkeypatch.setattr(type(pre), "_find_pose", fake_pose(no_ankles))
    r = pre(standing_photo, garment="bottom")
    assert r.method == "shoulders+mask"
    assert any("ankles not visible" in w for w in r.warnings), r.warnings
    assert r.crop_box[1] <= 200 and r.crop_box[3] >= 280
    assert not any("is not in the photo" in w for w in r.warnings)  # shorts need no ankles


def test_a_garment_whose_body_part_is_missing_is_said_to_be_missing(pre, standing_photo, monkeypatch) -> None:
    legs_only = {i: v for i, v in STANDING.items() if i not in (0, 11, 12)}
    monkeypatch.setattr(type(pre), "_find_pose", fake_pose(legs_only))
    assert any("(top) is not in the photo" in w for w in pre(standing_photo, garment="top").warnings)
    assert any("(whole) is not in the photo" in w for w in pre(standing_photo, garment="whole").warnings)
    assert not any("is not in the photo" in w for w in pre(standing_photo, garment="bottom").warnings)
    monkeypatch.setattr(type(pre), "_find_pose", fake_pose(STANDING))
    for garment in ("top", "bottom", "whole"):
        assert not any("is not in the photo" in w for w in pre(standing_photo, garment=garment).warnings)


def test_no_pose_but_a_person_uses_mask_bbox(pre, grace: Path, monkeypatch) -> None:
    monkeypatch.setattr(type(pre), "_find_pose", lambda self, work, src_size: None)
    r = pre(grace, garment="top")
    assert_valid(r)
    assert r.method == "mask_bbox" and r.keypoints is None
    assert any("no body keypoints" in w for w in r.warnings), r.warnings
    assert not any("is not in the photo" in w for w in r.warnings)  # no pose says nothing about which parts


# ------------------------------------------------------------ loading once, lazily


def test_preprocessor_is_cached_and_models_loaded_once(pre, monkeypatch) -> None:
    assert get_preprocessor(SIZE) is get_preprocessor(SIZE) is pre
    seg, pose = pre._segmenter, pre._pose
    pre(Image.new("RGB", (64, 64), "white"))
    assert pre._segmenter is seg and pre._pose is pose

    # Concurrent first calls build exactly one instance (cache + lock), without mediapipe.
    import imagegen.preprocess as mod

    built: list[int] = []

    class Counting:
        def __init__(self, size: int) -> None:
            built.append(size)

    monkeypatch.setattr(mod, "_CACHE", {})
    monkeypatch.setattr(mod, "Preprocessor", Counting)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(mod.get_preprocessor(99))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert built == [99] and all(g is got[0] for g in got)


def test_importing_does_not_load_mediapipe_or_torch() -> None:
    import imagegen

    repo_root = Path(imagegen.__file__).resolve().parents[1]
    code = "import sys, imagegen.preprocess, imagegen.images; print('mediapipe' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=repo_root)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
