"""The sample grids (``imagegen.offline.samples``): real photographs from installed packages, nothing downloaded."""

from PIL import Image

from imagegen.generator import StockImageGenerator
from imagegen.offline.samples import main, packaged_photos


def test_the_real_photographs_ship_inside_installed_packages():
    photos = packaged_photos()
    assert [name.split(" ")[0] for name, _ in photos] == ["grace_hopper", "astronaut", "camera,"]
    assert all(im.mode == "RGB" and min(im.size) >= 256 for _, im in photos)


def test_cli_writes_the_real_photo_grid_with_a_column_pair_per_garment_type(tmp_path):
    ckpt = tmp_path / "untrained.pt"
    from imagegen.checkpoint import save_checkpoint

    gen = StockImageGenerator.untrained(image_size=32, seed=0)
    save_checkpoint(ckpt, gen.g1, gen.g2, gen.config, step=0)
    assert main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "out")]) == 0
    with Image.open(tmp_path / "out" / "real_photos.png") as grid:
        assert grid.width >= 7 * 128 and grid.height >= 3 * 128  # photo + (crop, G2) x 3 types; 3 photos


def test_a_warping_g1_adds_its_warp_and_visibility_columns(tmp_path):
    import numpy as np

    from imagegen.offline.samples import warp_cells

    v3 = StockImageGenerator.untrained(image_size=32, seed=0, arch="v3")
    photo = Image.new("RGB", (32, 32), (200, 30, 40))
    warped, vis = warp_cells(v3, photo, "top")
    assert warped.shape == (32, 32, 3) and vis.shape == (32, 32, 3)
    assert np.abs(warped.astype(int) - np.asarray(photo).astype(int)).max() <= 1  # untrained: the identity warp
    assert warp_cells(StockImageGenerator.untrained(image_size=32, seed=0, arch="v2"), photo, "top") is None
