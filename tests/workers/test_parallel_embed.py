"""The re-index's decode + embed pool (search.parallel_embed): spawned processes give the same vectors, in the same
order, as embedding in this process, and flag an unreadable file instead of failing the batch."""
import multiprocessing

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


def _embed_in_daemon(paths, out):
    vectors, ok = parallel_embed.embed_files("hcg1", paths, processes=2)
    out.put((vectors.shape, ok.count(True)))


def test_a_daemonic_process_embeds_in_process_instead_of_failing(tmp_path):
    """The index worker's tasks run in a Celery prefork child, a daemonic process that may not start a pool: a batch
    larger than one CHUNK failed there with "daemonic processes are not allowed to have children" (the demo's 80-item
    catalogue was never indexed)."""
    paths = []
    for i in range(parallel_embed.CHUNK + 3):
        path = tmp_path / f"s{i}.png"
        Image.new("RGB", (40, 40), ((i * 37) % 256, 90, 120)).save(path)
        paths.append(str(path))
    out = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=_embed_in_daemon, args=(paths, out), daemon=True)
    child.start()
    shape, readable = out.get(timeout=120)
    child.join(30)
    assert child.exitcode == 0 and readable == len(paths) and shape[0] == len(paths)
