"""``rnnkit build``: reference solution + authored notebook -> nbgrader source notebook -> student release.

Solution code, signatures and docstrings are written once, in ``solutions/``. An answer cell of
``assignments/NN_name/NN_name.py`` holds a directive naming what goes there::

    # rnnkit: solution rnn_cell_forward

and the build writes in the function (or class) from ``solutions/name.py`` with every function body, after its
docstring, between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. nbgrader's own ``generate_assignment`` then
replaces those bodies with ``raise NotImplementedError()`` in the release: the student sees the signature and the
docstring (shapes, equations) the reference was written against.
"""
import ast
import glob
import os
import shutil

import jupytext
import nbformat

from autograder import notebooks, project
from autograder.errors import RnnkitError

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
DIRECTIVE = "# rnnkit: solution "


def _has_docstring(func):
    first = func.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _with_markers(node, lines, where):
    """The source of a top-level def or class with each function body (after its docstring) between the markers."""
    base = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
    out = lines[base:node.end_lineno]
    functions = [node] if isinstance(node, ast.FunctionDef) else \
        [n for n in node.body if isinstance(n, ast.FunctionDef)]
    for func in sorted(functions, key=lambda f: f.lineno, reverse=True):  # bottom up: indices stay valid
        if not _has_docstring(func) or len(func.body) < 2:
            raise RnnkitError(f"{where}: {func.name} needs a docstring (students read it) and a body")
        start, stop = func.body[0].end_lineno - base, func.end_lineno - base
        first = lines[func.body[1].lineno - 1]
        indent = first[:len(first) - len(first.lstrip())]
        out[start:stop] = [indent + BEGIN, *out[start:stop], indent + END]
    return "\n".join(out)


def solution_cell(names, solution_source, where):
    """The answer cell for ``names`` (top-level functions or classes of the solution module), markers in place."""
    lines = solution_source.splitlines()
    top = {n.name: n for n in ast.parse(solution_source).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    missing = [name for name in names if name not in top]
    if missing:
        raise RnnkitError(f"{where}: no {', '.join(missing)} in {os.path.relpath(project.solution_file(where))}")
    return "\n\n\n".join(_with_markers(top[name], lines, where) for name in names)


def _directive_names(source):
    lines = [line.strip() for line in source.strip().splitlines()]
    if lines and all(line.startswith(DIRECTIVE) for line in lines):
        return [line[len(DIRECTIVE):].strip() for line in lines]
    return None


def source_notebook(assignment):
    """The nbgrader source notebook of ``assignment``: the authored notebook with the solutions inlined."""
    authored = os.path.join(project.ASSIGNMENTS, assignment, f"{assignment}.py")
    notebook = jupytext.read(authored)
    with open(project.solution_file(assignment), encoding="utf-8") as f:
        solution_source = f.read()
    for cell in notebook.cells:
        meta, kind = notebooks.nbgrader_meta(cell), notebooks.cell_kind(cell)
        names = _directive_names(cell.source) if cell.cell_type == "code" else None
        if names:
            if kind != notebooks.ANSWER:
                raise RnnkitError(f"{assignment}: cell '{meta.get('grade_id')}' names a solution but is not an "
                                 "answer cell (nbgrader solution: true)")
            cell.source = solution_cell(names, solution_source, assignment)
        elif kind == notebooks.ANSWER:
            raise RnnkitError(f"{assignment}: answer cell '{meta.get('grade_id')}' must be a line "
                             f"'{DIRECTIVE}NAME' (the code and its docstring live in solutions/)")
    # nbformat draws random cell ids: fixed ones keep a build's notebooks byte for byte the same, so a grading's
    # seeds (keyed with the submission's hash) repeat from one build to the next
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _public_files(assignment):
    """(source path, path relative to the assignment folder) of every file released beside the notebook."""
    files = [(p, os.path.basename(p)) for p in glob.glob(os.path.join(project.ASSIGNMENTS, "common", "*.py"))
             if not p.endswith("__init__.py")]
    folder = os.path.join(project.ASSIGNMENTS, assignment)
    files += [(p, os.path.basename(p)) for p in glob.glob(os.path.join(folder, "*"))
              if os.path.isfile(p) and os.path.basename(p) != f"{assignment}.py"]
    data = os.path.join(project.DATA, assignment)
    for dirpath, _, filenames in os.walk(data):
        files += [(os.path.join(dirpath, n), os.path.join("data", os.path.relpath(os.path.join(dirpath, n), data)))
                  for n in filenames]
    return files


def build(course, assignments=None, log=print):
    """Builds ``course/source/<a>/`` and ``course/release/<a>/`` for every (or the given) assignment."""
    os.makedirs(course.root, exist_ok=True)
    course.write_config()   # nbgrader's own commands on this course grade with rnnkit (see course.NBGRADER_CONFIG)
    for assignment in assignments or project.assignments():
        if assignment not in project.assignments():
            raise RnnkitError(f"no assignment '{assignment}' (have: {', '.join(project.assignments())})")
        notebook = source_notebook(assignment)
        layout = notebooks.layout(notebook)
        errors = layout.check(suite_items(assignment))
        if errors:
            raise RnnkitError(f"{assignment}: " + "; ".join(errors))
        target = course.source_dir(assignment)
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        nbformat.write(notebook, course.source_notebook(assignment))
        for source, relative in _public_files(assignment):
            os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
            shutil.copy(source, os.path.join(target, relative))
        course.nbgrader("generate_assignment", assignment, "--force")
        log(f"built {assignment}: {len(layout.answers)} graded items, "
            f"{sum(layout.points.values()) + sum(layout.manual.values()):g} points -> {course.release_dir(assignment)}")


def suite_items(assignment):
    """The grade_ids the hidden suite's tests are tied to (read without importing the suite)."""
    path = project.suite(assignment)
    if not os.path.exists(path):
        return set()
    items = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "item" and node.args \
                and isinstance(node.args[0], ast.Constant):
            items.add(node.args[0].value)
    return items
