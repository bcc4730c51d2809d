import pytest

from workers import runtime


@pytest.fixture
def own_index(tmp_path, settings, media_root):
    """A fresh milvus-lite file for this test, opened by this process (as the index worker does)."""
    settings.VECTOR_INDEX_URI = str(tmp_path / "milvus.db")
    runtime._index = None
    yield
    if runtime._index is not None:
        runtime._index.close()
    runtime._index = None
