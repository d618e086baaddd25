"""Reading notebooks the nbgrader way: which cell is set-up, answer, public check or written answer."""
from dataclasses import dataclass, field
import json

import nbformat


class NotebookError(ValueError):
    """A notebook that cannot be read at all (invalid JSON, not a notebook)."""


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def cell_source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def read(path):
    """Reads a notebook leniently (a student's JSON may be hand-edited); raises NotebookError with one line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as err:
        raise NotebookError(f"cannot read {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise NotebookError(f"{path} is not valid JSON (line {err.lineno}, column {err.colno}): "
                            "was it edited outside Jupyter?") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError(f"{path} is not a Jupyter notebook (no list of cells)")
    try:
        return nbformat.reads(text, as_version=4)  # joins multi-line sources, upgrades old formats
    except Exception as err:
        raise NotebookError(f"{path} is not a readable notebook: {type(err).__name__}: {err}") from None


@dataclass
class Layout:
    """The graded structure of a source notebook."""
    setup: list = field(default_factory=list)      # [(grade_id, source)] set-up cells the grader runs, in order
    answers: list = field(default_factory=list)    # grade_ids of autograded answer cells, in order
    points: dict = field(default_factory=dict)     # item grade_id -> points of its test_<item> cell
    manual: dict = field(default_factory=dict)     # grade_id -> points of hand-graded written answers

    def check(self, suite_items):
        """Errors (one line each) when the notebook and the hidden suite disagree on the graded items."""
        errors = [f"answer cell '{a}' has no test_{a} cell with points" for a in self.answers if a not in self.points]
        errors += [f"test cell 'test_{p}' has no answer cell '{p}'" for p in self.points if p not in self.answers]
        errors += [f"item '{a}' has no hidden test" for a in self.answers if a not in suite_items]
        errors += [f"hidden tests refer to '{i}', which is not an answer cell" for i in suite_items
                   if i not in self.answers]
        return errors


def layout(notebook):
    """The :class:`Layout` of a source (or released) notebook."""
    result = Layout()
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if cell.cell_type == "code" and meta.get("locked") and not meta.get("grade") and grade_id.startswith("setup"):
            result.setup.append((grade_id, cell_source(cell)))
        elif cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            result.answers.append(grade_id)
        elif meta.get("grade") and not meta.get("solution") and grade_id.startswith("test_"):
            result.points[grade_id[len("test_"):]] = float(meta.get("points", 0))
        elif meta.get("grade") and meta.get("solution"):
            result.manual[grade_id] = float(meta.get("points", 0))
    return result


def answer_cells(notebook):
    """grade_id -> source of every answer cell (solution, not grade) in a submitted notebook."""
    found = {}
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") and not meta.get("grade") and meta.get("grade_id"):
            found.setdefault(meta["grade_id"], cell_source(cell))
    return found
