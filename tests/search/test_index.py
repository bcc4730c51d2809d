"""The vector index on a real milvus-lite file."""
import numpy as np
import pytest

from search.index import VectorIndex, collection_name


@pytest.fixture
def index(tmp_path):
    ix = VectorIndex(str(tmp_path / "milvus.db"), collection_name("test-v1"), 16)
    yield ix
    ix.close()


def unit(rng, n, d=16):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_collection_name_is_milvus_safe():
    assert collection_name("hcg-1.2") == "stock_images_hcg_1_2"


def test_upsert_is_idempotent_and_search_finds_each_vector_first(index):
    rng = np.random.default_rng(0)
    vecs = unit(rng, 2500)  # more than one insert batch
    ids = list(range(1, 2501))
    index.upsert(ids, vecs, [i // 2 for i in ids], ["top" if i % 2 else "bottom" for i in ids])
    index.upsert(ids[:10], vecs[:10], [i // 2 for i in ids[:10]], ["top" if i % 2 else "bottom" for i in ids[:10]])
    assert index.count() == 2500
    hits = index.search(vecs[:300], 5)
    assert len(hits) == 300 and all(h[0].id == i for h, i in zip(hits, ids[:300]))
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-4) and hits[0][0].score >= hits[0][1].score


def test_category_filter_and_delete_and_clear(index):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 6)
    index.upsert([1, 2, 3, 4, 5, 6], vecs, [10, 10, 20, 30, 40, 50], ["top", "top", "bottom", "top", "bottom", "top"])
    assert {h.id for h in index.search(vecs[2], 6, category="bottom")[0]} == {3, 5}
    index.delete([3])
    assert {h.id for h in index.search(vecs[2], 6, category="bottom")[0]} == {5}
    index.clear()
    assert index.count() == 0


def test_wrong_dimension_is_a_clear_error(index):
    with pytest.raises(ValueError, match="dimension"):
        index.upsert([1], np.zeros((1, 8), np.float32), [1], ["top"])
