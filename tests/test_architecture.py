"""The layout rules of the package: systems do not import each other, shared code never imports algos."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "dreamlab"


def imported_modules(path: Path, pkg: Path) -> set[str]:
    """Absolute module names imported by a file (relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = ".".join(("dreamlab", *path.relative_to(pkg).with_suffix("").parts))
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                node_module = f"{base}.{node.module}" if node.module else base
            else:
                node_module = node.module or ""
            names.add(node_module)
            # "from dreamlab.algos import muzero" imports a module too.
            names.update(f"{node_module}.{alias.name}" for alias in node.names)
    return names


def violations(pkg: Path) -> list[str]:
    """Every import that breaks the layout rules of DESIGN.md, as readable lines."""
    found: list[str] = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg)
        in_algos = rel.parts[0] == "algos" and len(rel.parts) > 2
        own = rel.parts[1] if in_algos else None
        for name in sorted(imported_modules(path, pkg)):
            parts = name.split(".")
            if parts[:2] != ["dreamlab", "algos"]:
                continue
            target = parts[2] if len(parts) > 2 else None
            if in_algos and target is not None and target != own:
                line = f"{rel}: system '{own}' imports sibling system '{target}'"
            elif rel.parts[0] != "algos" and rel.name != "cli.py":
                line = f"{rel}: shared module imports dreamlab.algos"
            else:
                continue
            if line not in found:
                found.append(line)
    return found


def test_the_package_keeps_its_layout_rules() -> None:
    assert violations(PKG) == []


@pytest.mark.parametrize(
    ("file", "source", "expected"),
    [
        ("algos/dyna/train.py", "from dreamlab.algos.muzero import x\n", "sibling system 'muzero'"),
        ("algos/dyna/train.py", "from ..muzero.model import x\n", "sibling system 'muzero'"),
        ("algos/dyna/train.py", "import dreamlab.algos.muzero.model\n", "sibling system 'muzero'"),
        ("planners/cem.py", "from dreamlab.algos.dyna import config\n", "shared module imports"),
        ("envs/x.py", "from dreamlab import algos\n", "shared module imports"),
    ],
)
def test_violations_are_caught(tmp_path: Path, file: str, source: str, expected: str) -> None:
    """The checker is not vacuous: each kind of forbidden import planted in a fake tree is reported."""
    target = tmp_path / "dreamlab" / file
    target.parent.mkdir(parents=True)
    target.write_text(source)
    (tmp_path / "dreamlab" / "algos" / "dyna").mkdir(parents=True, exist_ok=True)
    (tmp_path / "dreamlab" / "algos" / "dyna" / "config.py").write_text("from .model import M\n")
    found = violations(tmp_path / "dreamlab")
    assert len(found) == 1 and expected in found[0], found


def test_own_relative_imports_are_allowed(tmp_path: Path) -> None:
    target = tmp_path / "dreamlab" / "algos" / "dyna" / "train.py"
    target.parent.mkdir(parents=True)
    target.write_text(
        "from .config import C\nfrom dreamlab.algos.dyna.model import M\nimport dreamlab.envs\n"
    )
    assert violations(tmp_path / "dreamlab") == []
