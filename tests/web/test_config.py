"""marketplace/config.py: every environment variable defined and documented once, read as each process read it
before (issue #26), and read nowhere else."""
import re
from pathlib import Path

import pytest

from marketplace import config

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ["marketplace", "workers", "devtools", "search", "imagegen", "offline", "backbones", "bench"]


def test_every_variable_is_named_as_in_the_environment_and_documented():
    for name, field in config.Config.model_fields.items():
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
        assert field.description and len(field.description.split()) >= 3, f"{name} has no doc string"
    assert "| `DJANGO_DEBUG` | bool | `False` |" in config.table()


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("YES", True), ("On", True), ("0", False),
                                       ("false", False), ("", False), ("no", False), ("2", False)])
def test_a_switch_is_on_for_1_true_yes_on_in_any_case(value, on):
    for name in ("DJANGO_DEBUG", "SERVER_TIMING", "SQLITE_WRITE_GATE", "SEARCH_IN_MODEL_WORKER", "PREPROCESS_SEPARATE"):
        assert getattr(config.read({name: value}), name) is on, name


def test_switch_defaults():
    c = config.read({})
    assert (c.DJANGO_DEBUG, c.SERVER_TIMING, c.SQLITE_WRITE_GATE, c.SEARCH_IN_MODEL_WORKER,
            c.PREPROCESS_SEPARATE) == (False, True, True, True, False)


def test_numbers_are_read_by_pythons_int_and_float():
    c = config.read({"UPLOAD_MAX_BYTES": " 1_000 ", "JOB_SWEEP_SECONDS": "1e1", "GPU_BATCH_WAIT_MS": "inf",
                     "CELERY_VISIBILITY_TIMEOUT": "+5"})
    assert (c.UPLOAD_MAX_BYTES, c.JOB_SWEEP_SECONDS, c.GPU_BATCH_WAIT_MS, c.CELERY_VISIBILITY_TIMEOUT) == (
        1000, 10.0, float("inf"), 5)
    with pytest.raises(ValueError, match="JOB_MAX_ATTEMPTS"):  # pydantic's ValidationError is a ValueError
        config.read({"JOB_MAX_ATTEMPTS": "x"})


def test_defaults_under_the_var_dir_and_the_broker_follow_their_variables():
    c = config.read({"MARKETPLACE_VAR_DIR": "/srv/v", "REDIS_URL": "redis://r:1/0"})
    assert c.MEDIA_ROOT == Path("/srv/v/media") and c.MODEL_DIR == Path("/srv/v/models")
    assert c.TRAINING_DATA_DIR == Path("/srv/v/training-data") and c.VECTOR_INDEX_URI == "/srv/v/milvus.db"
    assert c.DATABASE_URL == "sqlite:////srv/v/db.sqlite3" and c.TEST_DATABASE_PATH == "/srv/v/test-db.sqlite3"
    assert c.CELERY_RESULT_BACKEND == "redis://r:1/0"
    assert config.read({}).MARKETPLACE_VAR_DIR == config.BASE_DIR / "var"


def test_empty_and_unset_mean_what_they_meant():
    assert config.read({"GPU_WORKERS": ""}).GPU_WORKERS is None and config.read({"GPU_WORKERS": "0"}).GPU_WORKERS == 0
    assert config.read({"DJANGO_ALLOWED_HOSTS": "a,b"}).DJANGO_ALLOWED_HOSTS == ["a", "b"]
    assert config.read({}).DJANGO_ALLOWED_HOSTS == ["127.0.0.1", "localhost", "testserver"]
    assert config.read({"CELERY_RESULT_BACKEND": ""}).CELERY_RESULT_BACKEND == ""
    assert config.read({"MEDIA_ROOT": ""}).MEDIA_ROOT == Path("")


def test_the_process_environment_is_read_at_each_call_and_names_are_case_sensitive(monkeypatch):
    monkeypatch.setenv("EMBEDDER_VERSION", "hcg1")
    monkeypatch.setenv("reindex_threads", "3")
    c = config.read()
    assert c.EMBEDDER_VERSION == "hcg1" and c.REINDEX_THREADS == 0
    assert repr(config.read({"DJANGO_SECRET_KEY": "s3cret"})).count("s3cret") == 0


def test_no_module_but_the_configuration_reads_the_environment():
    reads = re.compile(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[[^\]]+\](?!\s*=)|environ\.get\(")
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "marketplace" / "config.py":
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if reads.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not found, "read it through marketplace.config (or django.conf.settings):\n" + "\n".join(found)
