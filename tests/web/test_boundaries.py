"""The web process stays light: serving requests never imports torch, mediapipe, pymilvus, imagegen, search or
workers. Checked in a fresh interpreter, as gunicorn would load it (marketplace.wsgi)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_web_process_never_imports_ml_packages_or_workers(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["MARKETPLACE_VAR_DIR"] = {str(tmp_path)!r}
        from marketplace.wsgi import application
        from django.core.management import call_command
        call_command("migrate", verbosity=0)
        from django.test import Client
        c = Client()
        assert c.get("/api/schema/").status_code == 200
        assert c.get("/api/items/").status_code == 200
        assert c.get("/").status_code == 200
        bad = sorted(m for m in sys.modules if m.split(".")[0] in
                     {{"torch", "mediapipe", "pymilvus", "milvus_lite", "imagegen", "search", "workers", "cv2"}})
        print("LOADED", bad)
        sys.exit(1 if bad else 0)
    """)
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ml_packages_do_not_import_django():
    code = ("import sys, imagegen.generator, imagegen.preprocess, imagegen.train, search.embedding, search.index; "
            "bad=[m for m in sys.modules if m.split('.')[0] in ('django', 'celery')]; print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_docker_compose_parses_and_every_command_points_at_real_modules():
    import importlib.util

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    for required in ("web", "worker-gpu", "worker-index", "redis", "postgres", "milvus", "etcd", "minio"):
        assert required in services, required
    gpu = services["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert "gpu" in gpu["capabilities"]
    checked = 0
    for name, svc in services.items():
        cmd = svc.get("command")
        if not cmd or "image" in svc and "build" not in svc:
            continue
        words = cmd if isinstance(cmd, list) else cmd.split()
        for flag, value in zip(words, words[1:]):
            if flag == "-A":  # celery -A module
                assert importlib.util.find_spec(value) is not None, (name, value)
                checked += 1
            if flag.endswith(":application") or value.endswith(":application"):
                module = (value if value.endswith(":application") else flag).split(":")[0]
                assert importlib.util.find_spec(module) is not None, (name, module)
                checked += 1
            if flag == "-Q":
                assert set(value.split(",")) <= {"gpu", "index", "train"}, (name, value)
        if "manage.py" in words:
            sub = words[words.index("manage.py") + 1]
            from django.core.management import get_commands

            assert sub in get_commands(), (name, sub)
            checked += 1
    assert checked >= 4
