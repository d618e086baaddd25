"""Reading notebooks the nbgrader way: which cell is set-up, answer, public check or written answer."""
from dataclasses import dataclass, field
import json
import os
import re
import stat

import nbformat


class NotebookError(ValueError):
    """A notebook that cannot be read at all (invalid JSON, not a notebook)."""


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def cell_source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


# What the trusted side will parse of a submission: a real notebook of this course is well under 1 MB.
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_CELLS = 2000


def read_bytes(path, limit=MAX_NOTEBOOK_BYTES):
    """The bytes of a notebook file that is a regular file (not a symbolic link, device or folder) of at most
    ``limit`` bytes; raises NotebookError with one line otherwise."""
    name = os.path.basename(path)
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise NotebookError(f"{name} is a symbolic link, not a notebook: submit the notebook file itself")
        if not stat.S_ISREG(info.st_mode):
            raise NotebookError(f"{name} is not a regular file")
        if info.st_size > limit:
            raise NotebookError(f"{name} is {info.st_size / 2**20:.0f} MB, over the grader's limit of "
                                f"{limit / 2**20:.0f} MB: clear the outputs (Kernel > Restart & Clear Output)")
        with open(path, "rb") as f:
            return f.read(limit + 1)
    except OSError as err:
        raise NotebookError(f"cannot read {name}: {err.strerror or err}") from None


def read(path, data=None):
    """Reads a notebook leniently (a student's JSON may be hand-edited); raises NotebookError with one line.
    ``data``: its bytes, if already read with :func:`read_bytes`."""
    name = os.path.basename(path)
    try:
        text = (read_bytes(path) if data is None else data).decode("utf-8")
        parsed = json.loads(text)
    except UnicodeDecodeError:
        raise NotebookError(f"{name} is not UTF-8 text") from None
    except json.JSONDecodeError as err:
        raise NotebookError(f"{name} is not valid JSON (line {err.lineno}, column {err.colno}): "
                            "was it edited outside Jupyter?") from None
    except RecursionError:
        raise NotebookError(f"{name} is nested too deeply to be a notebook") from None
    if not isinstance(parsed, dict):
        raise NotebookError(f"{name} is not a Jupyter notebook (no list of cells)")
    if parsed.get("nbformat") != 4 or type(parsed.get("nbformat")) is not int:
        raise NotebookError(f"{name} is in notebook format {str(parsed.get('nbformat'))[:10]!r}, not 4: open it in a "
                            "current Jupyter and save it again")
    if not isinstance(parsed.get("cells"), list):
        raise NotebookError(f"{name} is not a Jupyter notebook (no list of cells)")
    if len(parsed["cells"]) > MAX_CELLS:
        raise NotebookError(f"{name} has {len(parsed['cells'])} cells, over the grader's limit of {MAX_CELLS}")
    problem = next((p for cell in parsed["cells"] for p in [_cell_problem(cell)] if p), None)
    if problem:
        advice = "remove what the assignment does not ask for" if "limit" in problem else \
            "was it edited outside Jupyter?"
        raise NotebookError(f"{name}: {problem}: {advice}")
    lines = sum(cell_source(cell).count("\n") + 1 for cell in parsed["cells"])
    if lines > MAX_NOTEBOOK_LINES:
        raise NotebookError(f"{name} has {lines:,} lines in its cells, over the grader's limit of "
                            f"{MAX_NOTEBOOK_LINES:,}: remove what the assignment does not ask for")
    try:
        return nbformat.reads(text, as_version=4)  # joins multi-line sources, upgrades old formats
    except Exception as err:
        raise NotebookError(f"{name} is not a readable notebook: {type(err).__name__}: {err}") from None


# What the cells' sources may hold: nbconvert's feedback page costs about 3.5 ms per line of code on a loaded 2-core
# machine (pygments' spans, then bleach and BeautifulSoup over them: 20,000 lines 90 s, 100,000 lines 354 s), so a
# cell of millions of short lines (19.9 MB of comments) ran for ten minutes and 13.8 GB. Assignment 1's source
# notebook has 733 lines, 104 in its longest cell.
MAX_CELL_LINES = 2_000
MAX_NOTEBOOK_LINES = 10_000
MAX_CELL_CHARS = 2 * 2**20   # an inline PNG in a written answer fits
GRADE_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
FLAGS = ("grade", "solution", "locked", "task")


def _cell_problem(cell):
    """What is wrong with one cell of a submitted notebook's JSON (one line), or None."""
    if not isinstance(cell, dict):
        return "a cell is not a JSON object"
    where = f"a {cell.get('cell_type')!s:.20} cell"
    if cell.get("cell_type") not in ("code", "markdown", "raw"):
        return f"a cell has the type {str(cell.get('cell_type'))[:20]!r}"
    source = cell.get("source", "")
    if not (isinstance(source, str) or isinstance(source, list) and all(isinstance(s, str) for s in source)):
        return f"{where} has a source that is not text"
    text = source if isinstance(source, str) else "".join(source)
    if len(text) > MAX_CELL_CHARS or text.count("\n") >= MAX_CELL_LINES:
        return (f"{where} has {text.count(chr(10)) + 1:,} lines and {len(text):,} characters, over the grader's "
                f"limit of {MAX_CELL_LINES:,} lines and {MAX_CELL_CHARS:,} characters per cell")
    metadata = cell.get("metadata", {})
    if not isinstance(metadata, dict):
        return f"{where} has metadata that is a {type(metadata).__name__}, not a mapping"
    meta = metadata.get("nbgrader", {})
    if not isinstance(meta, dict):
        return f"{where} has nbgrader metadata that is a {type(meta).__name__}, not a mapping"
    grade_id = meta.get("grade_id")
    if grade_id is not None and not (isinstance(grade_id, str) and GRADE_ID.fullmatch(grade_id)):
        return f"{where} has a grade_id that is not a name ({str(grade_id)[:40]!r})"
    if any(not isinstance(meta.get(flag, False), bool) for flag in FLAGS):
        return f"{where} '{grade_id}' has nbgrader flags that are not true or false"
    points = meta.get("points", 0)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points < 1e6:
        return f"{where} '{grade_id}' has points that are not a number ({str(points)[:20]!r})"
    if not isinstance(cell.get("outputs", []), list):
        return f"{where} '{grade_id}' has outputs that are not a list"
    return None


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


SETUP, ANSWER, CHECK, WRITTEN, OTHER = "setup", "answer", "check", "written", "other"


def cell_kind(cell):
    """What a cell is to the grader, from its nbgrader metadata (the one place these rules are written):

    * ``setup``: locked code whose grade_id starts with ``setup``; the grader runs the instructor's copy.
    * ``answer``: code, solution and not grade: one graded function or class, named by its grade_id.
    * ``check``: grade and not solution, grade_id ``test_<item>``: carries the item's points; public checks.
    * ``written``: grade and solution: a written answer, graded by hand.
    * ``other``: anything else (prose, demos, plots).
    """
    meta = nbgrader_meta(cell)
    grade_id = str(meta.get("grade_id") or "")
    if not grade_id:
        return OTHER
    code = cell.get("cell_type") == "code"
    if code and meta.get("locked") and not meta.get("grade") and grade_id.startswith("setup"):
        return SETUP
    if code and meta.get("solution") and not meta.get("grade"):
        return ANSWER
    if meta.get("grade") and not meta.get("solution") and grade_id.startswith("test_"):
        return CHECK
    if meta.get("grade") and meta.get("solution"):
        return WRITTEN
    return OTHER


def checked_item(cell):
    """The item a ``check`` cell carries the points of (``test_rnn_forward`` -> ``rnn_forward``)."""
    return nbgrader_meta(cell)["grade_id"][len("test_"):]


def layout(notebook):
    """The :class:`Layout` of a source (or released) notebook."""
    result = Layout()
    for cell in notebook.cells:
        kind, meta = cell_kind(cell), nbgrader_meta(cell)
        if kind == SETUP:
            result.setup.append((meta["grade_id"], cell_source(cell)))
        elif kind == ANSWER:
            result.answers.append(meta["grade_id"])
        elif kind == CHECK:
            result.points[checked_item(cell)] = float(meta.get("points", 0))
        elif kind == WRITTEN:
            result.manual[meta["grade_id"]] = float(meta.get("points", 0))
    return result


def first_copies(notebook, kinds=(ANSWER, WRITTEN)):
    """The one rule for a grade_id that appears more than once in a submitted notebook (a copied cell keeps its
    metadata): the first copy counts, for grading and for what the instructor and the student are shown.

    Returns ``({grade_id: cell}, {grade_id: number of copies})`` over the cells of ``kinds``; the second dict
    names only the grade_ids that repeat.
    """
    found, copies = {}, {}
    for cell in notebook.cells:
        if cell_kind(cell) in kinds:
            grade_id = nbgrader_meta(cell)["grade_id"]
            copies[grade_id] = copies.get(grade_id, 0) + 1
            found.setdefault(grade_id, cell)
    return found, {g: n for g, n in copies.items() if n > 1}


def answer_cells(notebook):
    """grade_id -> source of every answer cell in a submitted notebook (the first copy, see :func:`first_copies`)."""
    found, _ = first_copies(notebook, kinds=(ANSWER,))
    return {grade_id: cell_source(cell) for grade_id, cell in found.items()}
