"""The package's layers, read from the source with ast: every import, function-level ones included, points down.

`MEMBERS` and `MAY_IMPORT` are the map the README draws: the packages and top-level modules of each layer, and the
layers it may import besides its own. Within a layer, packages may use each other as long as no cycle forms.
"""

from __future__ import annotations

import ast
import functools
import graphlib
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kpops_bot"

# The layers, top first: the packages and top-level modules in each, and the layers each may import besides its own.
MEMBERS = {
    "entry": "__main__ cli action playground setup schemas config_reference",
    "bot": "server services worker overview",
    "adapters": "adapters",
    "workflows": "workflows",
    "edges": "forges store migrations locks fault_causes",
    "configuration": "settings settings_problems repo_config head_code",
    "dryrun": "dryrun",
    "rendering": "engine versions sandbox managed helm gitops workspace",
    "cores": "diff policy report commands connectors",
    "values": "__init__ model events jobs sources escape text yaml_text bounded_yaml validation names secret_forms "
    "masking faults version python_version setting_keys symlinks pipelines changes drift logs metrics git_safety",
}
MAY_IMPORT = {
    "entry": "bot adapters workflows edges configuration dryrun rendering cores values",
    "bot": "adapters workflows edges configuration dryrun rendering cores values",
    "adapters": "workflows edges configuration dryrun rendering cores values",
    "workflows": "edges configuration dryrun rendering cores values",
    "edges": "configuration rendering values",
    "configuration": "rendering cores values",
    "dryrun": "rendering cores values",  # above both: engine and diff never import each other
    "rendering": "values",
    "cores": "values",
    "values": "",
}


def module_names() -> dict[str, Path]:
    """Dotted name → file of every module of the package."""
    names = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


@functools.cache
def _parsed(path: Path) -> ast.Module:
    """A file's syntax tree, parsed once a run: the tests below read the same files again and again (only read)."""
    return ast.parse(path.read_text(encoding="utf-8"))


def _targets(module: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules that `module` imports anywhere in its file (`from a import b`: a.b when it is one)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base


def imports() -> dict[str, set[str]]:
    """Module → the package's modules it imports."""
    known = module_names()
    return {
        module: {name for name in _targets(module, path, known) if name in known and name != module}
        for module, path in known.items()
    }


def unit(module: str) -> str:
    """The top-level package or module a module belongs to: `engine` for kpops_bot.engine.pool."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(name: str) -> str:
    return next(layer for layer, members in MEMBERS.items() if name in members.split())


def test_every_package_and_module_has_a_layer() -> None:
    declared = [name for members in MEMBERS.values() for name in members.split()]
    assert len(declared) == len(set(declared)), "a name in two layers"
    assert {unit(module) for module in module_names()} - set(declared) == set()


def test_imports_point_down_the_layers() -> None:
    wrong = sorted(
        f"{module} ({layer_of(unit(module))}) imports {name} ({layer_of(unit(name))})"
        for module, names in imports().items()
        for name in names
        if layer_of(unit(name)) != layer_of(unit(module))
        and layer_of(unit(name)) not in MAY_IMPORT[layer_of(unit(module))].split()
    )
    assert wrong == []


def test_no_package_cycle() -> None:
    graph: dict[str, set[str]] = {}
    for module, names in imports().items():
        graph.setdefault(unit(module), set()).update(unit(name) for name in names if unit(name) != unit(module))
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        cycle = error.args[1]
        edges = {
            f"{module} -> {name}"
            for module, names in imports().items()
            for name in names
            for first, then in itertools.pairwise(cycle)
            if (unit(name), unit(module)) == (first, then)
        }
        pytest.fail(f"package cycle (each imported by the next) {' <- '.join(cycle)}: {sorted(edges)}")


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        # The workflows' collaborators are protocols over plain values: the adapters, the store and git stay out.
        (
            "kpops_bot.workflows.ports",
            ("sqlalchemy", "git", "kpops_bot.store", "kpops_bot.locks", "kpops_bot.engine.pool", "kpops_bot.adapters"),
        ),
        # Routing is the pure rule event -> job, tested with plain data.
        ("kpops_bot.server.routing", ("sqlalchemy", "git", "kpops_bot.store", "kpops_bot.engine.pool")),
    ],
)
@pytest.mark.subprocess
def test_a_fresh_interpreter_importing_it_loads_nothing_heavy(module: str, forbidden: tuple[str, ...]) -> None:
    """Measured where it counts, in a new process: what importing the module really loads."""
    script = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout)
    assert sorted(name for name in forbidden if name in loaded) == []


@pytest.mark.parametrize(
    ("package", "users"),
    [
        ("playground", {"cli"}),  # the forge stand-in is for trying the bot out: the bot never depends on it
        ("adapters", {"services"}),  # wired into the workflows in one place; they see only the ports
    ],
)
def test_one_door_in(package: str, users: set[str]) -> None:
    reached_from = {
        unit(module)
        for module, names in imports().items()
        if any(unit(name) == package for name in names) and unit(module) != package
    }
    assert reached_from == users


def _top_level_imports(path: Path) -> set[str]:
    """The top-level names a file imports anywhere in it (`from tests.support import x` → tests)."""
    names = set()
    for node in ast.walk(_parsed(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("tree", "forbidden"),
    [
        ("bench", {"tests"}),  # the benchmarks stand on the test bed, not on the tests
        ("testbed", {"tests", "bench"}),  # the test bed serves both, depends on neither
        ("kpops_bot", {"tests", "bench", "testbed"}),  # the shipped package needs nothing that is not shipped
    ],
)
def test_unshipped_trees_point_one_way(tree: str, forbidden: set[str]) -> None:
    root = PACKAGE.parent / tree
    assert root.is_dir()
    wrong = sorted(
        f"{path.relative_to(PACKAGE.parent)} imports {name}"
        for path in sorted(root.rglob("*.py"))
        for name in _top_level_imports(path) & forbidden
    )
    assert wrong == []
