"""The house: no import runs back up between the rooms of gateway/ (an ast import graph).

Rooms are the top-level packages and modules of gateway/, listed from the ground up. A
module may import its own room and the rooms listed before it, never one listed after
it; an import inside a function counts like any other. A new room must be placed here.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"

#: From the ground up; rooms on one line are peers (neither imports the other).
LAYERS: list[set[str]] = [
    {"__init__", "errors", "_proto"},
    {"clock", "config", "api", "sqlite_wal", "access_log", "telemetry", "health",
     "strict_toml"},
    {"crypto", "metrics"},
    {"pii", "catalogue"},
    # The request path, then what is built on it.
    {"identify", "respond"},
    {"audit"},
    {"records"},
    {"validate", "consent", "protect", "monitoring"},
    {"policy"},
    {"disclosure", "supervision"},
    {"signed_channel"},
    {"app", "client"},
    # Peer platforms: the outbox pusher and the receiver, built on the gateway and client.
    {"peers"},
    {"services", "console", "rotation"},
    {"server"},
    {"cli"},
    {"__main__"},
]


def room_of(module: str) -> str:
    """The room of a dotted module name under gateway ("gateway.pii.scanner" -> "pii")."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


@functools.cache
def imports(root: Path = GATEWAY) -> dict[str, set[str]]:
    """For each module under root (a gateway/ tree), the gateway modules it imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in root.rglob("*.py"):
        relative = path.relative_to(root.parent).with_suffix("")
        if "_proto" in relative.parts:
            continue
        name = ".".join(relative.parts).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name.startswith("gateway"))
            elif isinstance(node, ast.ImportFrom):
                target = node.module or ""
                if node.level:  # relative: resolved against this module's package
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join([*base, target] if target else base)
                if target == "gateway":  # `from gateway import x`: room x, or the package
                    graph[name].update(
                        f"gateway.{a.name}" if (root / a.name).exists()
                        or (root / f"{a.name}.py").exists() else "gateway"
                        for a in node.names)
                elif target.startswith("gateway."):
                    graph[name].add(target)
    return graph


def rank() -> dict[str, int]:
    """Each room's layer number."""
    return {room: level for level, rooms in enumerate(LAYERS) for room in rooms}


def test_every_room_has_a_layer() -> None:
    rooms = {p.stem if p.is_file() else p.name for p in GATEWAY.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    unplaced = sorted(rooms - set(rank()))
    assert not unplaced, f"place these in tests/test_layers.py LAYERS: {unplaced}"


def upward(graph: dict[str, set[str]]) -> list[str]:
    """The imports of a graph that run from a room to one listed after it."""
    levels = rank()
    return sorted(f"{module} imports {target}" for module, targets in graph.items()
                  for target in targets if levels[room_of(target)] > levels[room_of(module)])


def test_no_import_runs_back_up() -> None:
    found = upward(imports())
    assert not found, "\n".join(found)


def test_an_import_back_up_is_found(tmp_path: Path) -> None:
    """A ground module importing the request path, even inside a function, is caught."""
    root = tmp_path / "gateway"
    (root / "pii").mkdir(parents=True)
    (root / "pii" / "scanner.py").write_text(
        "def late():\n    from gateway.policy.decide import PolicyEngine\n")
    (root / "records").mkdir()
    (root / "records" / "store.py").write_text("from gateway import services\n")
    (root / "services").mkdir()
    (root / "services" / "__init__.py").write_text("")
    assert upward(imports(root)) == ["gateway.pii.scanner imports gateway.policy.decide",
                                     "gateway.records.store imports gateway.services"]


def test_peers_do_not_import_each_other() -> None:
    levels = rank()
    sideways = sorted(
        f"{module} imports {target}"
        for module, targets in imports().items() for target in targets
        if room_of(target) != room_of(module)
        and levels[room_of(target)] == levels[room_of(module)]
        and room_of(target) != "__init__"
    )
    assert not sideways, "\n".join(sideways)


@pytest.mark.parametrize("module", ["gateway.protect.release", "gateway.policy.decide",
                                    "gateway.pii.scanner"])
def test_the_graph_sees_the_imports_it_judges(module: str) -> None:
    """The checks above pass because the graph holds the imports, not because it is empty."""
    assert any(t.startswith("gateway.") for t in imports()[module])
