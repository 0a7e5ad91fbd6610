"""The layering of `adanas`: no import cycles (module- or function-level), config at the bottom."""

import ast
import subprocess
import sys

from conftest import ROOT

PACKAGE = ROOT / "adanas"
# What adanas/config.py may import from adanas: leaves that import nothing above them (the
# package root for __version__, adanas.images for the image tag).
CONFIG_MAY_IMPORT = {"adanas", "adanas.images"}


def _module(path) -> str:
    return "adanas" if path.name == "__init__.py" else f"adanas.{path.stem}"


def _resolve(name: str, modules: set[str]) -> str | None:
    """The adanas module (or package root) that importing `name` runs, or None if not ours."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _type_checking_only(node, parents) -> bool:
    parent = parents.get(node)
    while parent is not None:
        if isinstance(parent, ast.If) and "TYPE_CHECKING" in ast.unparse(parent.test):
            return True
        parent = parents.get(parent)
    return False


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported adanas module: line}, from every import statement, at any depth."""
    files = {_module(p): p for p in sorted(PACKAGE.glob("*.py"))}
    modules = set(files)
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        edges: dict[str, int] = {}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if _type_checking_only(node, parents):
                continue
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                # `from adanas import models` imports adanas.models; `from adanas import
                # __version__` imports the package root.
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                dep = _resolve(target, modules)
                if dep is not None and dep != module:
                    edges.setdefault(dep, node.lineno)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(_cycle_in(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def _cycle_in(graph, component: set[str]) -> list[str]:
    """A concrete cycle through the component's first module (breadth-first back to it)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v]):
                if w == start:
                    return paths[v] + [start]
                if w in component and w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("unreachable")


def _show(graph, cycle: list[str]) -> str:
    return " -> ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert "adanas.config" in graph["adanas.models"]   # module level
    assert "adanas.nasnet" in graph["adanas.models"]   # inside build_nasnet
    assert find_cycles({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles_in_adanas():
    graph = import_graph()
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (module -> module it imports, at that line):\n" + "\n".join(
        _show(graph, c) for c in cycles)


def test_config_is_the_bottom_layer():
    graph = import_graph()
    assert set(graph["adanas.config"]) <= CONFIG_MAY_IMPORT, graph["adanas.config"]
    for leaf in CONFIG_MAY_IMPORT:
        assert set(graph[leaf]) <= {"adanas"}, f"{leaf} must stay a leaf: {graph[leaf]}"
    assert not graph["adanas"], f"adanas/__init__.py must stay a leaf: {graph['adanas']}"
    # At run time too: importing config loads no other adanas module, and no TensorFlow.
    code = ("import sys, adanas.config; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('adanas', 'tensorflow', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout
    assert out.strip() == "['adanas', 'adanas.config', 'adanas.images']"


def test_config_declares_the_registries_names():
    from adanas import config, generators, models
    assert {n: f.arch_type for n, f in models.FAMILIES.items()} == config.FAMILY_ARCHITECTURES
    assert tuple(generators.GENERATORS) == config.GENERATOR_NAMES
