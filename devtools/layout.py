"""README's layout table, made from the tree: one row per package, with the first sentence of its docstring, its
modules and what it may import (the contracts of `[tool.importlinter]` in pyproject.toml, in words).

    python -m devtools.layout            print the table
    python -m devtools.layout --write    rewrite it in README.md (between the layout markers)

tests/test_readme_layout.py fails when README.md's table differs from this, so it stays true as modules come and go.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- layout: made by python -m devtools.layout --write -->", "<!-- /layout -->"

# (package path, what it may import): the rules the import contracts check, top layer first.
PACKAGES: tuple[tuple[str, str], ...] = (
    ("devtools", "anything; nothing imports it"),
    ("bench", "anything (scripts)"),
    ("workers", "marketplace, imagegen, search; one direction inside: tasks -> stages -> runtime -> index_endpoint"),
    ("workers/stages", "runtime, index_endpoint, marketplace, imagegen, search"),
    ("offline", "imagegen, search, backbones; never Django"),
    ("marketplace", "no ML package, no workers, no devtools (nor torch, mediapipe, pymilvus)"),
    ("marketplace/jobs", "no other app: the bottom of marketplace"),
    ("imagegen", "backbones; never search, offline or Django; its top level never imports imagegen.offline"),
    ("imagegen/offline", "the imagegen top level, backbones"),
    ("imagegen/offline/synth", "no other package of this project (numpy, PIL, OpenCV)"),
    ("search", "backbones; never imagegen, offline or Django"),
    ("backbones", "torch only"),
)


def _docstring(path: Path) -> str:
    if not path.is_file():
        return ""
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


def first_sentence(text: str) -> str:
    """The docstring's first paragraph up to its first full stop, or up to a colon that ends a clause of 25 or more
    characters (the rest is the detail a reader finds in the module)."""
    text = " ".join(text.split("\n\n")[0].split()).replace("``", "`")
    cuts = [i for i in (text.find(". "), text.find(": ")) if i >= 25]
    return (text[: min(cuts)] if cuts else text.rstrip(".")) + "."


def modules(folder: Path) -> list[str]:
    names = [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
    names += [p.name + "/" for p in folder.iterdir()
              if p.is_dir() and (p / "__init__.py").exists() and p.name not in ("migrations", "management")
              and f"{folder.relative_to(ROOT)}/{p.name}" not in {pkg for pkg, _ in PACKAGES}]
    return sorted(names)


def table() -> str:
    rows = ["| path | what | modules | may import |", "|---|---|---|---|"]
    for pkg, imports in PACKAGES:
        folder = ROOT / pkg
        doc = _docstring(folder / "__init__.py") or _docstring(folder / "README.py")
        what = first_sentence(doc) if doc else {"bench": "Benchmarks that print tables and write JSON to "
                                                         "`bench/results/`."}.get(pkg, "")
        mods = ", ".join(f"`{m}`" for m in modules(folder))
        rows.append(f"| `{pkg}/` | {what} | {mods} | {imports} |")
    return "\n".join(rows) + "\n"


def write(readme: Path = ROOT / "README.md") -> bool:
    """Put the table between the markers; True if the file changed."""
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{table()}{END}{tail}"
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def block(readme: Path = ROOT / "README.md") -> str:
    """The table README.md holds now."""
    text = readme.read_text(encoding="utf-8")
    return text.split(START, 1)[1].split(END, 1)[0].lstrip("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.layout", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite README.md's table")
    args = parser.parse_args(argv)
    if args.write:
        print("README.md", "updated" if write() else "already up to date")
    else:
        sys.stdout.write(table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
