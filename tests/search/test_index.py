"""The vector index on a real milvus-lite file."""
import numpy as np
import pytest

from search.index import SCHEMA_VERSION, VectorIndex, collection_name, search_filter


@pytest.fixture
def index(tmp_path):
    ix = VectorIndex(str(tmp_path / "milvus.db"), collection_name("test-v1"), 16)
    yield ix
    ix.close()


def unit(rng, n, d=16):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_collection_name_is_milvus_safe_and_carries_the_schema_version():
    assert collection_name("hcg-1.2") == f"stock_images_v{SCHEMA_VERSION}_hcg_1_2"


def test_upsert_is_idempotent_and_search_finds_each_vector_first(index):
    rng = np.random.default_rng(0)
    vecs = unit(rng, 2500)  # more than one insert batch
    ids = list(range(1, 2501))
    index.upsert(ids, vecs, [i // 2 for i in ids], ["top" if i % 2 else "bottom" for i in ids], [True] * len(ids))
    index.upsert(ids[:10], vecs[:10], [i // 2 for i in ids[:10]], ["top" if i % 2 else "bottom" for i in ids[:10]],
                 [True] * 10)
    assert index.count() == 2500
    hits = index.search(vecs[:300], 5)
    assert len(hits) == 300 and all(h[0].id == i for h, i in zip(hits, ids[:300]))
    assert hits[0][0].score == pytest.approx(1.0, abs=1e-4) and hits[0][0].score >= hits[0][1].score


def test_category_filter_and_delete_and_clear(index):
    rng = np.random.default_rng(1)
    vecs = unit(rng, 6)
    index.upsert([1, 2, 3, 4, 5, 6], vecs, [10, 10, 20, 30, 40, 50], ["top", "top", "bottom", "top", "bottom", "top"],
                 [True] * 6)
    assert {h.id for h in index.search(vecs[2], 6, category="bottom")[0]} == {3, 5}
    index.delete([3])
    assert {h.id for h in index.search(vecs[2], 6, category="bottom")[0]} == {5}
    index.clear()
    assert index.count() == 0


def test_wrong_dimension_is_a_clear_error(index):
    with pytest.raises(ValueError, match="dimension"):
        index.upsert([1], np.zeros((1, 8), np.float32), [1], ["top"], [True])


def test_search_filter_expressions():
    assert search_filter() == ""
    assert search_filter("top", in_stock_only=True, exclude_item_ids=[7, 3, 7]) == (
        'category == "top" and in_stock == true and item_id not in [3, 7]')
    assert search_filter(exclude_item_ids=[]) == ""  # milvus-lite fails on `not in []`: no clause at all
    with pytest.raises(ValueError):
        search_filter('top" or category != "x')


def test_stock_and_own_item_filters_run_inside_the_vector_query(index):
    """The nearest vector belongs to an out-of-stock item: a buyer query never gets it, yet still gets k hits; the
    buyer's own items are excluded the same way; without the filter (a seller) it comes first."""
    rng = np.random.default_rng(2)
    vecs = unit(rng, 40)
    query = vecs[0]
    ids = list(range(1, 41))
    item_ids = [100 + i for i in range(40)]
    in_stock = [i != 0 for i in range(40)]  # item 100 (the exact match) is out of stock
    index.upsert(ids, vecs, item_ids, ["top"] * 40, in_stock)
    assert index.search(query, 1, category="top")[0][0].item_id == 100  # sellers: any catalogue image
    hits = index.search(query, 5, category="top", in_stock_only=True)[0]
    assert len(hits) == 5 and 100 not in {h.item_id for h in hits}
    own = [h.item_id for h in hits[:2]]
    hits2 = index.search(query, 5, category="top", in_stock_only=True, exclude_item_ids=own)[0]
    assert len(hits2) == 5 and not {100, *own} & {h.item_id for h in hits2}
    # Back in stock: an upsert of the same row with the new flag makes it eligible again.
    index.upsert([1], vecs[:1], [100], ["top"], [True])
    assert index.search(query, 1, category="top", in_stock_only=True)[0][0].item_id == 100


def test_column_built_writes_store_every_field_exactly(index):
    """The writer builds its requests column by column and hands the vectors over as raw float32 bytes
    (search.index._request): what comes back must be exactly what went in, over several calls in flight."""
    rng = np.random.default_rng(3)
    n = 3 * 1000 + 7
    vecs = unit(rng, n)
    ids = np.arange(100, 100 + n)
    cats = ["top", "bottom", "whole"] * (n // 3) + ["top"] * (n % 3)
    stock = (ids % 3 != 0).tolist()
    assert index.insert(ids, vecs, ids // 2, cats, stock) == n
    assert index.count() == n
    probe = [100, 1101, 100 + n - 1]
    rows = {r["id"]: r for r in index._client.get(index.collection, ids=probe,
                                                   output_fields=["vector", "item_id", "category", "in_stock"])}
    for pk in probe:
        i = pk - 100
        assert np.array_equal(np.asarray(rows[pk]["vector"], np.float32), vecs[i])
        assert (rows[pk]["item_id"], rows[pk]["category"], rows[pk]["in_stock"]) == (pk // 2, cats[i], stock[i])
    index.upsert(ids[:5], vecs[5:10], ids[:5] // 2, cats[:5], stock[:5])  # replaced, not added
    assert index.count() == n
    (row,) = index._client.get(index.collection, ids=[102], output_fields=["vector"])
    assert np.array_equal(np.asarray(row["vector"], np.float32), vecs[7])


def test_a_failed_write_raises_and_bad_vectors_are_refused(index):
    with pytest.raises(ValueError, match="finite"):
        index.insert([1], np.full((1, 16), np.nan, np.float32), [1], ["top"], [True])
    index.drop()
    with pytest.raises(Exception, match="(?i)collection"):  # the store's own error, not a silent loss
        index.insert([1, 2], unit(np.random.default_rng(4), 2), [1, 2], ["top", "top"], [True, True])
