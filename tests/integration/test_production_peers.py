"""The integration tests that matter most for job handling, run a second time on the production peers: PostgreSQL 15
and Redis 7 from Debian's packages, two model workers side by side (issue #14).

Why a second pytest: pytest-django creates the test database from `DATABASES` once per session, and the settings
read `DATABASE_URL` at import, so a session is on SQLite or on PostgreSQL, never both. This test starts the
PostgreSQL server, runs the chosen modules in a pytest of their own with `DATABASE_URL` pointing at it (their stacks
then start redis-server instead of valkey, and two gpu workers: tests/conftest.py), and passes when that run passes.
The servers come from `./dev test`'s apt packages; a missing one fails here with the command to install it."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.peers import Postgres, peers_env, redis_server_binary

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
# Uploads to done, a worker killed mid-job, and two workers claiming side by side: the job-handling guarantees that
# depend on the database's locking and the broker; and the claim rules and per-batch reads, in part plain SQL. About
# a minute on two cores.
ON_PEERS = [
    "tests/web/test_job_claims.py",
    "tests/web/test_plain_reads.py",
    "tests/integration/test_pipeline.py",
    "tests/integration/test_crash_recovery.py",
    "tests/integration/test_two_model_workers.py",
]


def _run_pytest(cmd: list[str], env: dict, timeout: float) -> tuple[int, str]:
    """Past the timeout the second pytest gets SIGINT, so that its fixtures stop the stacks it started (a SIGKILL
    would leave their workers and servers running); its whole group is killed only if that does not end it."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        output += f"\n[stopped after {timeout:.0f} s]"
    return proc.returncode, output


@pytest.mark.timeout(1020)
def test_job_handling_suite_passes_on_postgresql_and_redis_with_two_model_workers(tmp_path):
    redis_server_binary()  # fail now, with the apt command, rather than inside the second pytest
    with Postgres(fsync=False) as pg:
        env = {**os.environ, **peers_env(pg), "PYTHONUNBUFFERED": "1",
               "TEST_EXPECT_DATABASE_ENGINE": "django.db.backends.postgresql"}
        env.pop("TEST_DATABASE_PATH", None)
        cmd = [sys.executable, "-m", "pytest", *ON_PEERS, "-q", "-p", "no:cacheprovider",
               f"--basetemp={tmp_path / 'peers'}"]
        returncode, output = _run_pytest(cmd, env, timeout=900)
    (tmp_path / "peers-pytest.log").write_text(output)
    assert returncode == 0, f"the suite on PostgreSQL + Redis failed:\n{output[-12000:]}"
    assert "passed" in output and "skipped" not in output, output[-3000:]
