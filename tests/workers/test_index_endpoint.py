"""The embedded index's address for other processes (workers.index_endpoint): the index worker owns the milvus-lite
file, and a model worker searches through the server that the owner's client started for it, on a real milvus-lite
file and a real second process."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from django.conf import settings

from workers import index_endpoint, runtime

DIM = 8


def vectors(n: int) -> np.ndarray:
    v = np.random.default_rng(0).normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_owner_publishes_its_server_and_another_process_searches_it_with_the_same_answers(own_index):
    ix = runtime.collection_index("endpoint_test", DIM)  # this process opens the file, as the index worker does
    v = vectors(20)
    ix.upsert(list(range(1, 21)), v, list(range(101, 121)), ["top"] * 20, [True] * 20)
    uri = index_endpoint.read(settings.VECTOR_INDEX_URI)
    assert uri and uri.startswith("unix:")
    assert json.loads(index_endpoint.path_for(settings.VECTOR_INDEX_URI).read_text())["pid"] == os.getpid()
    mine = [[h.id for h in hits] for hits in ix.search(v[:3], 5, category="top")]

    other = subprocess.run(
        [sys.executable, "-c", (
            "import json, sys, numpy as np\n"
            "from search.index import VectorIndex\n"
            "uri, v = sys.argv[1], np.array(json.loads(sys.argv[2]), np.float32)\n"
            f"ix = VectorIndex(uri, 'endpoint_test', {DIM}, create=False, timeout=10)\n"
            "print(json.dumps([[h.id for h in hits] for hits in ix.search(v, 5, category='top')]))\n"),
         uri, json.dumps(v[:3].tolist())],
        capture_output=True, text=True, timeout=120, cwd=settings.BASE_DIR)
    assert other.returncode == 0, other.stderr[-2000:]
    assert json.loads(other.stdout.strip().splitlines()[-1]) == mine
    assert mine[0][0] == 1  # each vector finds itself first


@pytest.mark.parametrize("record", ["not json", '{"uri": "unix:/nonexistent/x.sock", "pid": 1}', "{}",
                                    '{"uri": "http://milvus:19530", "pid": 1}'])
def test_an_unusable_record_means_no_address(tmp_path, record):
    db = tmp_path / "milvus.db"
    index_endpoint.path_for(str(db)).write_text(record)
    assert index_endpoint.read(str(db)) is None


def test_the_address_of_an_owner_that_died_is_not_used(tmp_path):
    db = tmp_path / "milvus.db"
    sock = tmp_path / "server.sock"
    sock.touch()  # the socket file a killed owner's server leaves behind
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record = {"uri": f"unix:{sock}", "pid": int(gone.stdout)}
    index_endpoint.path_for(str(db)).write_text(json.dumps(record))
    assert index_endpoint.read(str(db)) is None
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # killed, and not reaped yet by its parent
    try:
        deadline = time.time() + 30
        while time.time() < deadline and open(f"/proc/{zombie.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.05)
        record["pid"] = zombie.pid
        index_endpoint.path_for(str(db)).write_text(json.dumps(record))
        assert index_endpoint.read(str(db)) is None
    finally:
        zombie.wait()
    record["pid"] = os.getpid()  # a live owner: the same record is an address
    index_endpoint.path_for(str(db)).write_text(json.dumps(record))
    assert index_endpoint.read(str(db)) == f"unix:{sock}"
