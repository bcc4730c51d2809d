"""The re-index's decode + embed step (search.parallel_embed): several threads give the same vectors, in the same
order, as one; an unreadable file is flagged instead of failing the batch; it works inside a daemonic process (a
Celery prefork child); thumbnails are written on the first read and give the identical vector afterwards."""
import multiprocessing

import numpy as np
from PIL import Image

from search import parallel_embed


def _files(tmp_path, n, size=48):
    paths = []
    for i in range(n):
        path = tmp_path / f"s{i}.png"
        im = Image.new("RGB", (size, size), "white")
        im.paste(((i * 37) % 256, (i * 91) % 256, 120), (8, 8, size - 8, size - 4))
        im.save(path)
        paths.append(str(path))
    return paths


def test_threads_embed_like_one_and_flag_unreadable_files(tmp_path):
    paths = _files(tmp_path, parallel_embed.CHUNK * 2 + 5)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    paths.insert(7, str(tmp_path / "broken.png"))
    paths.append(str(tmp_path / "missing.png"))

    here, ok_here = parallel_embed.embed_files("hcg1", paths, threads=1)
    pooled, ok_pooled = parallel_embed.embed_files("hcg1", paths, threads=2)

    assert ok_here == ok_pooled and ok_here.count(False) == 2 and not ok_here[7] and not ok_here[-1]
    assert pooled.shape == here.shape == (len(paths) - 2, here.shape[1])
    np.testing.assert_array_equal(pooled, here)


def test_thumbnails_are_written_once_and_read_instead_with_the_same_vectors(tmp_path):
    paths = _files(tmp_path, parallel_embed.CHUNK + 3, size=256)
    thumbs = [str(tmp_path / "thumbs" / f"{i}.png") for i in range(len(paths))]
    first, ok = parallel_embed.embed_files("hcg1", paths, threads=2, thumbnails_out=thumbs)
    assert all(ok)
    with Image.open(thumbs[0]) as im:
        assert im.size == (64, 64)
    # The originals are gone: only the thumbnails can give these vectors now.
    for p in paths:
        Image.new("RGB", (256, 256), "black").save(p)
    again, ok = parallel_embed.embed_files("hcg1", paths, threads=2, thumbnails=thumbs)
    np.testing.assert_array_equal(again, first)
    # A damaged thumbnail is passed over for the original (now black): no wrong answer, no failure.
    open(thumbs[3], "wb").write(b"\x89PNG broken")
    third, ok = parallel_embed.embed_files("hcg1", paths, threads=1, thumbnails=thumbs)
    assert all(ok) and not np.allclose(third[3], first[3]) and np.array_equal(third[4], first[4])


def test_an_embedder_that_reads_originals_ignores_thumbnails(tmp_path):
    from search.embedders import register_embedder

    class Originals:
        version, dim, reads_thumbnail = "originals-test", 2, False

        def embed_images(self, images):
            return np.array([[im.size[0], im.size[1]] for im in images], np.float32)

    register_embedder("originals-test", Originals)
    try:
        paths = _files(tmp_path, 3, size=100)
        thumbs = [str(tmp_path / f"t{i}.png") for i in range(3)]
        vectors, _ = parallel_embed.embed_files("originals-test", paths, thumbnails_out=thumbs)
        assert vectors.tolist() == [[100, 100]] * 3
        assert not any((tmp_path / f"t{i}.png").exists() for i in range(3))
    finally:
        register_embedder("originals-test", None)


def _embed_in_daemon(paths, out):
    vectors, ok = parallel_embed.embed_files("hcg1", paths, threads=2)
    out.put((vectors.shape, ok.count(True)))


def test_a_daemonic_process_embeds_on_threads(tmp_path):
    """The index worker's tasks run in a Celery prefork child, a daemonic process that may not start processes (the
    old process pool failed there with "daemonic processes are not allowed to have children"): threads work."""
    paths = _files(tmp_path, parallel_embed.CHUNK + 3, size=40)
    out = multiprocessing.get_context("spawn").Queue()
    child = multiprocessing.get_context("spawn").Process(target=_embed_in_daemon, args=(paths, out), daemon=True)
    child.start()
    shape, readable = out.get(timeout=120)
    child.join(30)
    assert child.exitcode == 0 and readable == len(paths) and shape[0] == len(paths)
