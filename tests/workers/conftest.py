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


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory):
    """A real Milvus server (the `milvus` package's standalone binary, devtools.milvus_server) for this test session:
    started on first use, on a free port, in a temp folder; its whole process group is stopped at the end."""
    from devtools.milvus_server import start_milvus

    tmp = tmp_path_factory.mktemp("milvus-server")
    svc = start_milvus(tmp / "data", tmp / "logs")
    yield svc.extra["uri"]
    svc.stop(timeout=10)


def _drop_ours(uri: str) -> None:
    from pymilvus import MilvusClient

    client = MilvusClient(uri=uri)
    try:
        for name in client.list_collections():
            if name.startswith("stock_images_v"):
                for alias in client.list_aliases(name).get("aliases", []):
                    client.drop_alias(alias)
                client.drop_collection(name)
    finally:
        client.close()


@pytest.fixture
def server_index(milvus_server, settings, media_root, monkeypatch):
    """This process as an index (or re-index) worker on the Milvus server, with no collection of ours on it yet.
    Builds are driven by the test itself: the build task's publish (a broker this test does not run) is left out."""
    from workers.stages import index_lifecycle

    _drop_ours(milvus_server)
    settings.VECTOR_INDEX_URI = milvus_server
    monkeypatch.setattr(index_lifecycle, "_publish_build", lambda: None)
    runtime._index = None
    runtime._collections.clear()
    yield milvus_server
    if runtime._index is not None:
        runtime._index.close()
    runtime._index = None
    runtime._collections.clear()
    _drop_ours(milvus_server)
