"""nbgrader's feedback on an rnnkit course, made safe to open and honest about what awaits a person.

The course's ``nbgrader_config.py`` (written by ``rnnkit build``) makes ``nbgrader generate_feedback`` (and
formgrader's feedback buttons, and ``rnnkit feedback``) use:

* :class:`AwaitingManualGrade`, a preprocessor after nbgrader's ``GetGrades``: under a written answer that no person
  has graded yet, a note saying so (nbgrader would show it as "0.0 / 2.0");
* :class:`SafeFeedbackExporter`, nbgrader's own HTML exporter whose page goes through nh3 (the body; see
  :mod:`autograder.nbgrader_safe`) and carries a Content-Security-Policy: no script, no request to anywhere, images
  only inline.
"""
import re

import nbformat
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from autograder import nbgrader_safe

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
       "form-action 'none'")   # (frame-ancestors is ignored in a <meta>)
WRAP_CSS = ("<style>pre, .output_text pre, .output_stream pre { white-space: pre-wrap; overflow-wrap: anywhere; } "
            ".rnnkit-awaiting { border-left: 4px solid #e0a800; padding: 0.3em 0.8em; background: #fff8e1; }"
            "</style>")
AWAITING = ("**Awaiting grading by a person.** The score shown for this written answer is not a grade yet: its "
            "points are added when your instructor has graded it.")


class AwaitingManualGrade(Preprocessor):
    """Adds, under each written answer whose grade needs a person and has none, a note that says so."""

    enabled = True   # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry
        info = resources.get("nbgrader", {})
        cells = []
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                cells.append(cell)
                meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
                if not (meta.get("grade") and meta.get("solution") and meta.get("grade_id")):
                    continue
                try:
                    grade = gb.find_grade(meta["grade_id"], info["notebook"], info["assignment"], info["student"])
                except MissingEntry:
                    continue
                if grade.manual_score is None and grade.needs_manual_grade:
                    cells.append(nbformat.v4.new_markdown_cell(
                        f'<div class="rnnkit-awaiting">\n\n{AWAITING}\n\n</div>'))
        nb.cells = cells
        return nb, resources


_BODY = re.compile(r"(<body[^>]*>)(.*)(</body>)", re.S | re.I)
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.S | re.I)


def safe_page(html):
    """A whole feedback page: the template's head without scripts, the CSP first in it, and the body through
    nh3's allow-list. Anything a student wrote is in the body."""
    match = _BODY.search(html)
    if match is None:
        head, body, tail = "", html, ""
        opening, closing = "<body>", "</body>"
    else:
        head, opening, body, closing, tail = (html[:match.start()], match.group(1), match.group(2), match.group(3),
                                              html[match.end():])
    head = _SCRIPT.sub("", head)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    if re.search(r"<head[^>]*>", head, re.I):
        head = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + "\n" + meta, head, count=1, flags=re.I)
    else:
        head = f"<!DOCTYPE html>\n<html>\n<head>\n{meta}\n<meta charset=\"utf-8\">\n</head>\n" + head
    head = re.sub(r"(</head>)", WRAP_CSS + r"\n\1", head, count=1, flags=re.I)
    return head + "<body>" + nbgrader_safe.clean_html(body) + "</body>" + (tail if match else "")


class SafeFeedbackExporter(HTMLExporter):
    """nbgrader's feedback exporter (its ``feedback`` template), with :func:`safe_page` over the result."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return safe_page(output), resources
