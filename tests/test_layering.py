"""The house's layers stay true: no module imports a higher layer, no import cycle, no private name taken
from another module; function-level imports count. The layers, lowest first, are those of the README."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "course_lib"
LAYERS = (("checks", "io", "seeding", "device", "profiles", "__init__"), ("data",), ("models", "distributions"),
          ("representation", "metrics"), ("topology",), ("objectives",), ("training",), ("analysis",), ("lab",),
          ("kit", "__main__"))
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> tuple[dict, list]:
    """({module: {imported course_lib modules}}, [(module, private name, from module)]), every import counted."""
    modules = {module_name(p): p for p in package.rglob("*.py")}
    graph, private = {}, []
    for name, path in modules.items():
        graph[name] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name.split(".")[0] == "course_lib"}
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "course_lib":
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    graph[name].add(submodule if submodule in modules else node.module)
                    if alias.name.startswith("_") and node.module != name:
                        private.append((name, alias.name, node.module))
    return graph, private


def layer(module: str) -> int:
    parts = module.split(".")
    return RANK["__init__" if len(parts) == 1 else parts[1]]


def upward_imports(graph: dict) -> list:
    return sorted((a, b) for a, targets in graph.items() for b in targets if layer(b) > layer(a))


def cycle(graph: dict) -> list:
    """One import cycle as a list of modules (empty when there is none): depth-first search for a back edge."""
    state, stack = {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[module] = "done"
        stack.pop()
        return []

    return next((found for module in sorted(graph) if module not in state and (found := visit(module))), [])


def test_the_checks_find_an_upward_import_and_a_cycle():
    graph = {"course_lib.data.x": {"course_lib.kit.cli"}, "course_lib.kit.cli": {"course_lib.kit.zoo"},
             "course_lib.kit.zoo": {"course_lib.kit.cli"}}
    assert upward_imports(graph) == [("course_lib.data.x", "course_lib.kit.cli")]
    assert cycle(graph) == ["course_lib.kit.cli", "course_lib.kit.zoo", "course_lib.kit.cli"]


def test_every_module_sits_in_a_layer():
    graph, _ = import_graph()
    unplaced = sorted(m for m in graph if m != "course_lib" and m.split(".")[1] not in RANK)
    assert not unplaced, f"add these to LAYERS (and the README's layout): {unplaced}"


def test_no_module_imports_a_higher_layer():
    assert upward_imports(import_graph()[0]) == []


def test_no_import_cycle():
    assert cycle(import_graph()[0]) == []


def test_no_private_name_is_imported_from_another_module():
    assert import_graph()[1] == []


def test_at_most_twelve_modules_sit_flat_in_the_package():
    flat = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__"))
    assert len(flat) <= 12, flat
