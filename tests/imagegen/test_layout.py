"""imagegen's two sides stay apart: what runs per upload (the top level) never imports ``imagegen.offline``."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGEGEN = ROOT / "imagegen"


def test_runtime_modules_do_not_load_the_offline_side():
    code = ("import sys, imagegen.generator, imagegen.preprocess, imagegen.checkpoint; "
            "bad = sorted(m for m in sys.modules if m == 'imagegen.offline' or m.startswith('imagegen.offline.')); "
            "print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_no_top_level_module_imports_the_offline_side_even_lazily():
    """The import above only sees module-level imports; this also catches imports inside functions. ``__main__`` (the
    ``python -m imagegen train`` CLI) is the one top-level module allowed to reach into the offline side."""
    offenders = []
    for path in sorted(IMAGEGEN.glob("*.py")):
        if path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
                if node.level == 1 and not node.module:  # from . import offline
                    names += [a.name for a in node.names]
            else:
                continue
            if any(n in ("imagegen.offline", ".offline", "offline") or n.startswith(("imagegen.offline.", ".offline."))
                   for n in names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders
