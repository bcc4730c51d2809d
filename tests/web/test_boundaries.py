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
    code = ("import sys, imagegen.generator, imagegen.preprocess, imagegen.offline.train, search.embedding, "
            "search.index; "
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
                assert set(value.split(",")) <= {"gpu", "index", "train", "cpu", "reindex"}, (name, value)
        if "manage.py" in words:
            sub = words[words.index("manage.py") + 1]
            from django.core.management import get_commands

            assert sub in get_commands(), (name, sub)
            checked += 1
    assert checked >= 4


# --- the same rules read statically ----------------------------------------------------------------------------
# A fresh interpreter only sees the imports on the paths it ran; a function-level import on a path it did not take
# (an upload branch, an admin action) would pass it. Reading every module's imports, wherever they sit, does not.
import ast  # noqa: E402

WEB_FORBIDDEN = {"torch", "torchvision", "mediapipe", "pymilvus", "milvus_lite", "imagegen", "search", "workers", "cv2"}
# Every package of the marketplace (its apps, the API ...) but jobs itself, so that a new one is covered too. Plain
# modules beside them (marketplace.garments, media_names ...) are below every app and free to use.
OTHER_APPS = {f"marketplace.{p.parent.name}" for p in (ROOT / "marketplace").glob("*/__init__.py")} - {"marketplace.jobs"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, source: str | None = None) -> set[str]:
    """Every module `path` imports anywhere in its body (top level, functions, branches), relative ones resolved,
    plus importlib.import_module("...") / __import__("...") with a literal name."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text() if source is None else source, str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__"):
                found.add(node.args[0].value)
    return found


def _violations(paths, forbidden: set[str]) -> list[str]:
    def bad(name: str) -> bool:
        return any(name == f or name.startswith(f + ".") for f in forbidden)

    return [f"{p.relative_to(ROOT)} imports {name}" for p in paths for name in sorted(_imports(p)) if bad(name)]


def test_static_no_module_of_the_web_side_imports_ml_packages_or_workers():
    paths = sorted((ROOT / "marketplace").rglob("*.py"))
    assert len(paths) > 30
    assert _violations(paths, WEB_FORBIDDEN) == []


def test_static_jobs_is_the_bottom_layer_and_imports_no_other_app():
    assert {"marketplace.catalogue", "marketplace.listings", "marketplace.shopping", "marketplace.api"} <= OTHER_APPS
    paths = sorted((ROOT / "marketplace" / "jobs").rglob("*.py"))
    assert _violations(paths, OTHER_APPS) == []


def test_static_reader_sees_function_level_and_relative_imports():
    """The reader itself: a lazy import inside a function, a relative one and import_module are all caught."""
    probe = ROOT / "marketplace" / "jobs" / "probe.py"  # a name only: the source is given, nothing is written
    source = ("def f():\n    import imagegen.images\n    from ..listings import services\n"
              "    import importlib; importlib.import_module('workers.stages')\n")
    found = _imports(probe, source)
    assert {"imagegen.images", "marketplace.listings.services", "workers.stages"} <= found
