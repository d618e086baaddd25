"""Dependencies point one way: no import cycle among the modules of ``autograder/`` (the hidden suites aside),
counting the imports written inside functions, which run as surely as those at the top, only later."""
import ast
import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "autograder")
HIDDEN = os.path.join(ROOT, "hidden")


def module_name(path):
    parts = os.path.relpath(path, os.path.dirname(ROOT))[:-len(".py")].split(os.sep)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path, name, known):
    """The project modules that ``path`` (module ``name``) imports, anywhere in it. A sandbox module's plain
    ``import worker`` names the module beside it (the sandbox puts its own folder on the path)."""
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= {alias.name, f"{package}.{alias.name}"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    # "from autograder.grading import pool" names autograder.grading.pool; a bare package is not an edge
    return {m for m in found if m in known and m != name and not known[m].endswith("__init__.py")}


def graph():
    known = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and os.path.join(dirpath, d) != HIDDEN]
        for filename in filenames:
            if filename.endswith(".py"):
                path = os.path.join(dirpath, filename)
                known[module_name(path)] = path
    return {name: imports(path, name, known) for name, path in known.items()}


def cycles(edges):
    """Every strongly connected component of more than one module (Tarjan's algorithm), each sorted."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                on_stack.discard(other)
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_scan_sees_an_import_inside_a_function():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    edges = graph()
    assert "autograder.grading.batch" in edges["autograder.workflow"]
    assert "autograder.workflow" in edges["autograder.grading.service"]   # imported inside a method


def test_no_import_cycle_in_autograder():
    assert cycles(graph()) == []
