"""A real Milvus server for tests and benchmarks of the server path, started from the PyPI package `milvus` 2.3.5,
which ships the standalone server binary in its wheel (docs/FACTS.md). Production runs Milvus standalone or cluster
from docker-compose; this is its local peer, so that aliases, HNSW and several index processes on one index are
tested against the real thing rather than assumed.

Started like `devtools.stack.start_valkey`: on free ports, in a folder of its own, in its own process group. The group
matters: the package's wrapper starts `…/bin/milvus run standalone` as a child, and a SIGTERM to the wrapper alone
leaves that child running (measured); `Service.stop` ends the whole group.

Several servers on one machine (two test sessions, a benchmark beside a test run): the wrapper finds free ports for
the proxy and the coordinators, but its embedded etcd starts from etcd's defaults and always listens on 2379/2380,
so a second server dies with "bind: address already in use" (measured). `python -m devtools.milvus_server` runs the
wrapper with an etcd config file of free ports of its own (`etcd.config.path`, a key the wrapper's template lacks).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from pymilvus import MilvusClient

from devtools.processes import Service, free_port, spawn, wait_for_port

try:  # the server binary's package is a test dependency (pyproject's `test` extra), absent from a production install
    import milvus
except ImportError:
    milvus = None


def milvus_available() -> bool:
    """Is the server package installed (pyproject's `test` extra)?"""
    return milvus is not None


def start_milvus(data_dir: Path, log_dir: Path, port: int | None = None, timeout: float = 180.0) -> Service:
    """`milvus run standalone` listening on 127.0.0.1:`port` (a free one when None), data under `data_dir`; returns
    once a client's call succeeds (the proxy port opens before the coordinators are ready). The first start in a
    folder unpacks the binary into it (~10 s). `extra["uri"]` is what VECTOR_INDEX_URI takes."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    etcd_client, etcd_peer = free_port(), free_port()
    cmd = [sys.executable, "-m", "devtools.milvus_server", str(data_dir), str(port), str(etcd_client), str(etcd_peer)]
    svc = spawn("milvus", cmd, log_dir, dict(os.environ))
    deadline = time.time() + timeout
    try:
        wait_for_port(svc, port, timeout)
        uri = f"http://127.0.0.1:{port}"
        _wait_ready(svc, uri, deadline)
    except BaseException:
        svc.stop(timeout=5)
        raise
    svc.extra["uri"] = uri
    svc.respawn = lambda: start_milvus(data_dir, log_dir, port, timeout)
    return svc


def _wait_ready(svc: Service, uri: str, deadline: float) -> None:
    last = None
    while time.time() < deadline:
        if not svc.alive():
            raise RuntimeError(f"milvus exited:\n{svc.log_tail()}")
        try:
            client = MilvusClient(uri=uri, timeout=5)
            try:
                client.list_collections()
                return
            finally:
                client.close()
        except Exception as exc:  # not ready yet: connection refused, "service not ready" ...
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"milvus not ready at {uri}: {last}\n{svc.log_tail()}")


def _run(data_dir: str, proxy_port: int, etcd_client: int, etcd_peer: int) -> None:
    """The wrapper's `main`, with the embedded etcd on the given ports (see the module's docstring)."""
    data = Path(data_dir).resolve()
    (data / "configs").mkdir(parents=True, exist_ok=True)
    etcd_yaml = data / "configs" / "embed-etcd.yaml"
    client, peer = f"http://127.0.0.1:{etcd_client}", f"http://127.0.0.1:{etcd_peer}"
    etcd_yaml.write_text(f"name: default\nlisten-client-urls: {client}\nadvertise-client-urls: {client}\n"
                         f"listen-peer-urls: {peer}\ninitial-advertise-peer-urls: {peer}\n"
                         f"initial-cluster: default={peer}\n")
    write_config = milvus.MilvusServerConfig.write_config

    def write_config_with_etcd_ports(self) -> None:
        write_config(self)
        path = Path(self.base_data_dir) / "configs" / "milvus.yaml"
        text = path.read_text()
        marker = "\n  use:\n    embed: true"
        assert marker in text, "the milvus package's config template changed"
        path.write_text(text.replace(marker, f"\n  config:\n    path: {etcd_yaml}{marker}", 1))

    milvus.MilvusServerConfig.write_config = write_config_with_etcd_ports
    sys.argv = ["milvus-server", "--data", str(data), "--proxy-port", str(proxy_port),
                "--etcd-port", str(etcd_client)]
    sys.exit(milvus.main())


if __name__ == "__main__":
    _run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
