"""
Rules of the package's code that review alone wouldn't keep: checked on every test run.

Each module keeps its private names (``_x``) and each class its private attributes to itself,
so a module can be changed without reading every other one.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "easy_channels"


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    own = {  # what the module defines itself: its classes and globals may be used in it
        target.id
        for node in tree.body
        for target in (
            [node]
            if isinstance(node, (ast.ClassDef, ast.FunctionDef))
            else getattr(node, "targets", [])
        )
        if isinstance(target, ast.Name)
    } | {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    # self._x and cls._x are the class's own only inside a class's methods: in a module-level
    # function, "cls" is whatever class it was given.
    in_class = {
        id(node)
        for klass in ast.walk(tree)
        if isinstance(klass, ast.ClassDef)
        for node in ast.walk(klass)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [
                f"{path.name}:{node.lineno}: imports {alias.name} from {node.module}"
                for alias in node.names
                if _private(alias.name)
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if isinstance(base, ast.Name) and (
                (base.id in ("self", "cls") and id(node) in in_class) or base.id in own
            ):
                continue
            found.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_reaches_into_another_ones_private_names():
    found = [v for path in sorted(PACKAGE.rglob("*.py")) for v in _violations(path)]
    assert found == [], "\n".join(found)


def test_the_rule_catches_what_it_is_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from .hub import _start\n"
        "class A:\n    def f(self, other):\n        return self._x, other._y, A._z\n"
        "def g(cls):\n    return cls._tables\n"
    )
    assert sorted(_violations(sample)) == [
        "sample.py:1: imports _start from hub",
        "sample.py:4: other._y",
        "sample.py:6: cls._tables",
    ]
