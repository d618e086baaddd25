"""``rnnkit build``: authored notebook + reference solution -> nbgrader source notebook -> student release.

Solution code is written once, in ``solutions/``. Each answer cell of ``assignments/NN_name/NN_name.py`` holds a
signature, a docstring and an empty ``### BEGIN SOLUTION`` / ``### END SOLUTION`` pair; the build fills the pair
with the body of the function of the same qualified name (``RNNCell.call`` for a method) and checks that the
signatures agree. nbgrader's own ``generate_assignment`` then makes the release.
"""
import ast
import glob
import os
import shutil
import subprocess
import sys
import textwrap

import jupytext
import nbformat

from autograder import notebooks, paths

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class BuildError(ValueError):
    """The authored notebook and the solution module do not fit together."""


def _definitions(tree):
    """qualified name -> FunctionDef for the functions and methods of a module or cell."""
    found = {}

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + child.name] = child
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
    visit(tree, "")
    return found


def _body_source(node, lines):
    """The source lines of a function's body without its docstring, comments kept, dedented."""
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        start = body[0].end_lineno  # the line after the docstring
        if len(body) == 1:
            raise BuildError(f"solution {node.name} has a docstring but no body")
    else:
        start = node.body[0].lineno - 1
        # keep comment lines between the signature and the first statement
        while start > node.lineno and lines[start - 1].strip().startswith("#"):
            start -= 1
    return textwrap.dedent("\n".join(lines[start:node.end_lineno])).strip("\n")


def inline_solutions(cell_source, solution_source, where):
    """Fills every empty BEGIN/END SOLUTION pair of an answer cell with the matching solution body."""
    solution_lines = solution_source.splitlines()
    solutions = _definitions(ast.parse(solution_source))
    cell_lines = cell_source.splitlines()
    try:
        cell_defs = _definitions(ast.parse(cell_source))
    except SyntaxError as err:
        raise BuildError(f"{where}: answer cell does not parse: {err}") from None
    output, index = [], 0
    while index < len(cell_lines):
        line = cell_lines[index]
        output.append(line)
        if line.strip() == BEGIN:
            lineno = index + 1
            indent = line[:len(line) - len(line.lstrip())]
            # The markers follow the docstring, past the function's last statement: the owner is the nearest
            # def above them that is indented less.
            owners = [(name, node) for name, node in cell_defs.items()
                      if node.lineno < lineno and node.col_offset < len(indent)]
            if not owners:
                raise BuildError(f"{where}: '{BEGIN}' at line {lineno} is not inside a function")
            name, node = max(owners, key=lambda pair: pair[1].lineno)
            if name not in solutions:
                raise BuildError(f"{where}: no function {name} in {os.path.relpath(paths.solution_file(where))}")
            wanted, have = ast.unparse(node.args), ast.unparse(solutions[name].args)
            if wanted != have:
                raise BuildError(f"{where}: {name}({wanted}) in the notebook but {name}({have}) in solutions/")
            body = _body_source(solutions[name], solution_lines)
            output += [indent + text if text.strip() else "" for text in body.splitlines()]
            if index + 1 >= len(cell_lines) or cell_lines[index + 1].strip() != END:
                raise BuildError(f"{where}: '{BEGIN}' at line {lineno} must be followed directly by '{END}'")
        index += 1
    return "\n".join(output)


def source_notebook(assignment):
    """The nbgrader source notebook of ``assignment``: the authored notebook with the solutions inlined."""
    authored = os.path.join(paths.ASSIGNMENTS, assignment, f"{assignment}.py")
    notebook = jupytext.read(authored)
    with open(paths.solution_file(assignment), encoding="utf-8") as f:
        solution_source = f.read()
    for cell in notebook.cells:
        meta = notebooks.nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("solution") and BEGIN in cell.source:
            cell.source = inline_solutions(cell.source, solution_source, assignment)
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _public_files(assignment):
    """(source path, path relative to the assignment folder) of every file released beside the notebook."""
    files = [(p, os.path.basename(p)) for p in glob.glob(os.path.join(paths.ASSIGNMENTS, "common", "*.py"))
             if not p.endswith("__init__.py")]
    folder = os.path.join(paths.ASSIGNMENTS, assignment)
    files += [(p, os.path.basename(p)) for p in glob.glob(os.path.join(folder, "*"))
              if os.path.isfile(p) and os.path.basename(p) != f"{assignment}.py"]
    data = os.path.join(paths.DATA, assignment)
    for dirpath, _, filenames in os.walk(data):
        files += [(os.path.join(dirpath, n), os.path.join("data", os.path.relpath(os.path.join(dirpath, n), data)))
                  for n in filenames]
    return files


NBGRADER_CONFIG = '''\
# Written by `rnnkit build`; edit freely, it is not overwritten.
c = get_config()
c.CourseDirectory.course_id = "rnnkit"
# Hidden tests never enter a notebook (they live in autograder/suites); keep nbgrader's guard anyway.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
'''


def nbgrader(course, *args, check=True):
    """Runs one of nbgrader's own commands on ``course`` (with this venv's bin first on PATH: it needs alembic)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course.root}"]
    proc = subprocess.run(command, cwd=course.root, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        tail = [l for l in (proc.stderr + proc.stdout).splitlines() if l.strip()][-5:]
        raise BuildError(f"nbgrader {args[0]} failed: " + " | ".join(tail))
    return proc


def build(course, assignments=None, log=print):
    """Builds ``course/source/<a>/`` and ``course/release/<a>/`` for every (or the given) assignment."""
    os.makedirs(course.root, exist_ok=True)
    config = course.path("nbgrader_config.py")
    if not os.path.exists(config):
        with open(config, "w") as f:
            f.write(NBGRADER_CONFIG)
    for assignment in assignments or paths.assignments():
        if assignment not in paths.assignments():
            raise BuildError(f"no assignment '{assignment}' (have: {', '.join(paths.assignments())})")
        notebook = source_notebook(assignment)
        layout = notebooks.layout(notebook)
        errors = layout.check(suite_items(assignment))
        if errors:
            raise BuildError(f"{assignment}: " + "; ".join(errors))
        target = course.source_dir(assignment)
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        nbformat.write(notebook, course.source_notebook(assignment))
        for source, relative in _public_files(assignment):
            os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
            shutil.copy(source, os.path.join(target, relative))
        nbgrader(course, "generate_assignment", assignment, "--force")
        log(f"built {assignment}: {len(layout.answers)} graded items, "
            f"{sum(layout.points.values()) + sum(layout.manual.values()):g} points -> {course.release_dir(assignment)}")


def suite_items(assignment):
    """The grade_ids the hidden suite's tests are tied to (read without importing the suite)."""
    path = paths.suite(assignment)
    if not os.path.exists(path):
        return set()
    items = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "item" and node.args \
                and isinstance(node.args[0], ast.Constant):
            items.add(node.args[0].value)
    return items
