"""The shape of the code base: no import cycles among cvdemo's modules, and the installed command."""

from __future__ import annotations

import ast
import tomllib
from importlib import import_module
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "cvdemo"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The cvdemo modules ``path`` imports, at the top or inside a function (a deferred import
    that dodges a cycle at load time is still a cycle in the design)."""

    def owner(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {owner(alias.name) for alias in node.names if alias.name.split(".")[0] == "cvdemo"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "cvdemo":
            # `from cvdemo.explain import graph` imports the module cvdemo.explain.graph
            found |= {owner(f"{node.module}.{alias.name}") for alias in node.names}
    return found - {None}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    order: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(module: str) -> None:
        order[module] = lowest[module] = len(order)
        stack.append(module)
        for imported in graph.get(module, ()):
            if imported not in order:
                visit(imported)
                lowest[module] = min(lowest[module], lowest[imported])
            elif imported in stack:
                lowest[module] = min(lowest[module], order[imported])
        if lowest[module] == order[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_two_module_cycle_and_a_self_contained_chain():
    graph = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": set(), "e": {"e"}}
    assert import_cycles(graph) == [["a", "b"]]


def test_no_import_cycles_among_cvdemo_modules():
    modules = _module_names()
    graph = {name: _imports_of(path, modules) - {name} for name, path in modules.items()}
    assert "cvdemo.gan.sampling" in graph["cvdemo.gan.generator"]  # the finder sees real imports
    assert import_cycles(graph) == []


def test_the_cvdemo_command_is_the_cli_main():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    module, _, function = scripts["cvdemo"].partition(":")
    from cvdemo.cli import main

    assert getattr(import_module(module), function) is main


def test_pages_hold_layout_only():
    """pages/ import Streamlit and cvdemo.ui only, and define, loop over and compute nothing."""
    for page in sorted((ROOT / "pages").glob("*.py")):
        tree = ast.parse(page.read_text(encoding="utf-8"))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert all(name == "streamlit" or name.startswith("cvdemo.ui") for name in imported), (page.name, imported)
        logic = [type(node).__name__ for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.With, ast.comprehension))]
        assert logic == [], (page.name, logic)


def test_the_app_never_imports_the_command_line():
    modules = _module_names()
    for name, path in modules.items():
        if not name.startswith(("cvdemo.cli", "cvdemo.__main__")):
            assert not {m for m in _imports_of(path, modules) if m.startswith("cvdemo.cli")}, name
