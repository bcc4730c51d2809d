"""README.md's layout table is the tree's (devtools.layout): a module added, moved or removed without updating it
fails here, with the command that fixes it."""
from devtools import layout


def test_readme_layout_table_matches_the_tree():
    assert layout.block() == layout.table(), "README.md's layout table is stale: run python -m devtools.layout --write"


def test_every_package_of_the_project_has_a_row():
    listed = {pkg for pkg, _ in layout.PACKAGES}
    for top in ("marketplace", "workers", "devtools", "offline", "imagegen", "search", "backbones", "bench"):
        assert top in listed
    assert all((layout.ROOT / pkg).is_dir() for pkg in listed)
