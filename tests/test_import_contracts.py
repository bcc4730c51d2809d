"""The layers as a contract (issue #26): import-linter checks `[tool.importlinter]` in pyproject.toml: the web never
imports the ML packages or the workers, `marketplace.jobs` imports no other app, `imagegen` and `search` are
independent, offline ML sits above both, the tooling above the product, and no package has an import cycle between
its modules. Plus the budget of function-level imports, each kept only with its reason."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("marketplace", "workers", "devtools", "offline", "imagegen", "search", "backbones", "bench")
MAX_FUNCTION_LEVEL_IMPORTS = 40


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert "BROKEN" not in r.stdout and " KEPT" in r.stdout


def _reason(lines: list[str], lineno: int) -> str:
    """The import line and the comment that explains it: on the line itself, or above it and the imports that
    directly precede it (one comment may explain a group), or on the `try:` it sits under."""
    text, i = lines[lineno - 1], lineno - 2
    while i >= 0 and (lines[i].strip().startswith(("from ", "import ")) or not lines[i].strip()):
        text += " " + lines[i]
        i -= 1
    return text + " " + (lines[i] if i >= 0 else "")


def function_level_imports() -> list[tuple[str, int, str]]:
    """(file, line, its reason as `_reason` finds it) of every import inside a function in non-test code."""
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            lines = path.read_text(encoding="utf-8").splitlines()
            for node in ast.walk(ast.parse("\n".join(lines), filename=str(path))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for sub in ast.walk(node):
                        if isinstance(sub, (ast.Import, ast.ImportFrom)):
                            found.append((str(path.relative_to(ROOT)), sub.lineno, _reason(lines, sub.lineno)))
    return found


def test_few_function_level_imports_each_with_its_reason():
    found = function_level_imports()
    assert len(found) <= MAX_FUNCTION_LEVEL_IMPORTS, "\n".join(f"{f}:{n}" for f, n, _ in found)
    unexplained = [f"{f}:{n}" for f, n, text in found if "lazy" not in text.lower()]
    assert not unexplained, "a function-level import needs a '# lazy: why' comment:\n" + "\n".join(unexplained)
