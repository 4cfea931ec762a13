"""Structure rules inside the IRC adapter, checked on the source with ``ast`` (beside
test_layers.py, which checks the layers): the hub holds state and lookups and knows nothing of
the command table, command modules share code through the adapter's shared modules and never
import each other, and no module of ``ircd`` is part of an import circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.test_layers import IRCD, _module_name, imports_of

ADAPTER = IRCD / "irc"
COMMANDS_DIR = ADAPTER / "commands"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_imports(path: Path) -> set[str]:
    """Absolute module names ``path`` imports when it runs: relative imports resolved, imports
    inside functions included, imports under ``if TYPE_CHECKING:`` (annotations only) left
    out. ``from a import b`` yields ``a`` and ``a.b``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for inner in node.body:
                typing_only.update(id(n) for n in ast.walk(inner))
    out: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def import_graph() -> dict[str, set[str]]:
    """Module of ``ircd`` -> the modules of ``ircd`` it imports at run time. An import of a
    package's attribute (``from . import acks``) counts as an import of that module when it is
    one; importing ``a.b`` also runs ``a`` (its ``__init__``), which counts too."""
    paths = {_module_name(p): p for p in sorted(IRCD.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps: set[str] = set()
        for mod in runtime_imports(path):
            parts = mod.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in paths and prefix != name and not name.startswith(prefix + "."):
                    deps.add(prefix)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_runtime_imports_skip_type_checking_blocks() -> None:
    src = IRCD / "irc" / "registry.py"  # imports the hub for annotations only
    mods = runtime_imports(src)
    assert "ircd.irc.hub" not in mods
    assert "ircd.irc.hub" in _all_imports(src)


def _all_imports(path: Path) -> set[str]:
    return {m for _, m in imports_of(path)}


def test_the_graph_sees_the_adapter() -> None:
    graph = import_graph()
    assert "ircd.irc.hub" in graph["ircd.irc.dispatch"]
    assert "ircd.irc.registry" in graph["ircd.irc.dispatch"]
    assert "ircd.irc.commands.channels" in graph["ircd.irc.commands"]


def test_no_import_circles_in_ircd() -> None:
    assert circles(import_graph()) == []


def test_the_hub_imports_neither_the_command_table_nor_dispatch() -> None:
    banned = ("ircd.irc.registry", "ircd.irc.dispatch", "ircd.irc.commands")
    mods = _all_imports(ADAPTER / "hub.py")  # annotations included: the hub knows none of them
    bad = sorted(m for m in mods if any(m == b or m.startswith(b + ".") for b in banned))
    assert bad == []


def test_command_modules_import_no_sibling_command_module() -> None:
    """Handlers share code through the adapter's shared modules (rooms, replay, welcome,
    service, ...), never by importing another command module (annotations included)."""
    siblings = {_module_name(p) for p in COMMANDS_DIR.glob("*.py") if p.name != "__init__.py"}
    assert "ircd.irc.commands.messaging" in siblings
    bad = []
    for p in sorted(COMMANDS_DIR.glob("*.py")):
        if p.name == "__init__.py":
            continue  # the package imports each module once, so that they register
        me = _module_name(p)
        for line, mod in imports_of(p):
            hit = {s for s in siblings if mod == s or mod.startswith(s + ".")} - {me}
            if hit:
                bad.append(f"{p.relative_to(IRCD.parent)}:{line} imports {mod}")
    assert bad == []


_SHOWN_SETS = {"members", "ops", "voiced"}
_MUTATORS = {"add", "discard", "remove", "pop", "clear", "update", "difference_update"}


def shown_set_mutations(path: Path) -> list[str]:
    """Places in ``path`` that change a room's ``members`` or ``ops`` set directly
    (``x.members.add(...)``, ``x.ops = ...``, ``x.members |= ...``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        target: ast.expr | None = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in _MUTATORS:
                target = node.func.value
        elif isinstance(node, ast.AugAssign):
            target = node.target
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Attribute) and t.attr in _SHOWN_SETS:
                    target = t
        if isinstance(target, ast.Attribute) and target.attr in _SHOWN_SETS:
            where = path.relative_to(IRCD.parent) if path.is_relative_to(IRCD) else path.name
            found.append(f"{where}:{node.lineno}")
    return found


def test_who_is_shown_in_a_room_changes_only_through_the_room() -> None:
    """The NAMES cache is right because ``Room`` counts every change of who is shown in it
    (``Room.version``): no code outside ``Room``'s own methods may change ``members`` or
    ``ops``, so no call site has to remember to drop the cache."""
    model = IRCD / "messenger" / "model.py"
    found = [
        place
        for path in sorted(IRCD.rglob("*.py"))
        if path != model
        for place in shown_set_mutations(path)
    ]
    assert found == []
    tree = ast.parse(model.read_text(encoding="utf-8"))
    room = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Room")
    inside = {
        f"ircd/messenger/model.py:{n.lineno}"
        for f in room.body
        if isinstance(f, ast.FunctionDef)
        for n in ast.walk(f)
        if isinstance(n, ast.stmt | ast.expr)
    }
    assert set(shown_set_mutations(model)) <= inside


def test_the_shown_set_finder_finds_direct_changes(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("room.members.add(k)\nr.ops = set()\nx.ops |= y\nr.members.copy()\n")
    assert sorted(shown_set_mutations(sample)) == ["sample.py:1", "sample.py:2", "sample.py:3"]
