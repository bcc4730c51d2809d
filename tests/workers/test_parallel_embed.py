"""The re-index's decode + embed pool (search.parallel_embed): spawned processes give the same vectors, in the same
order, as embedding in this process, and flag an unreadable file instead of failing the batch."""
import numpy as np
from PIL import Image

from search import parallel_embed


def test_the_pool_embeds_like_this_process_and_flags_unreadable_files(tmp_path):
    paths = []
    for i in range(parallel_embed.CHUNK * 2 + 5):
        path = tmp_path / f"s{i}.png"
        Image.new("RGB", (48, 48), ((i * 37) % 256, (i * 91) % 256, 120)).save(path)
        paths.append(str(path))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths.insert(7, str(tmp_path / "broken.png"))
    paths.append(str(tmp_path / "missing.png"))

    here, ok_here = parallel_embed.embed_files("hcg1", paths, processes=1)
    pooled, ok_pooled = parallel_embed.embed_files("hcg1", paths, processes=2)
    parallel_embed.shutdown()

    assert ok_here == ok_pooled and ok_here.count(False) == 2 and not ok_here[7] and not ok_here[-1]
    assert pooled.shape == here.shape == (len(paths) - 2, here.shape[1])
    np.testing.assert_allclose(pooled, here, rtol=1e-5, atol=1e-6)
