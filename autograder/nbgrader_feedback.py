"""nbgrader's feedback on an rnnkit course, made safe to open and honest about what awaits a person.

The course's ``nbgrader_config.py`` (written by ``rnnkit build``) makes ``nbgrader generate_feedback`` (and
formgrader's feedback buttons, and ``rnnkit feedback``) use:

* :class:`AwaitingManualGrade`, a preprocessor after nbgrader's ``GetGrades``: under a written answer that no person
  has graded yet, a note saying so (nbgrader would show it as "0.0 / 2.0"); under an autograded item whose points
  a person set, a note saying so; the grader's notes for the TA taken out of the comments
  (:data:`autograder.grading.gradebook.NOTE`); each item's state kept for the summary (:mod:`autograder.grades`);
* :class:`SafeFeedbackExporter`, nbgrader's own HTML exporter whose page goes through nh3 (the body; see
  :mod:`autograder.nbgrader_safe`) and carries a Content-Security-Policy: no script, no request to anywhere, images
  only inline; formulas rendered on the server as MathML (:func:`formulas_as_mathml`), which browsers draw without a
  script.

formgrader's own grading page (a MathJax the Jupyter server serves, no red frame around the student's plots) takes
its templates from :mod:`autograder.formgrader_templates`.
"""
import hashlib
import html as html_module
import json
import os
import re

import nbformat
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from autograder import grades, nbgrader_safe

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
       "form-action 'none'")   # (frame-ancestors is ignored in a <meta>)
WRAP_CSS = ("<style>pre, .output_text pre, .output_stream pre { white-space: pre-wrap; overflow-wrap: anywhere; } "
            ".rnnkit-awaiting { border-left: 4px solid #e0a800; padding: 0.3em 0.8em; background: #fff8e1; }"
            ".rnnkit-replaced { border: 1px solid #4477aa; padding: 0.5em 1em; margin: 1em; background: #eef4fb; }"
            "div.output_png img, div.output_area img { border: none; }"
            "</style>")
AWAITING = ("**Awaiting grading by a person.** The score shown for this written answer is not a grade yet: its "
            "points are added when your instructor has graded it.")


BY_HAND = "**Set by your instructor.** The points of this item were given by a person: {score:g} / {top:g}."
_NOTE_LINE = re.compile(r"^\[rnnkit[:,].*$\n?", re.M)   # the grader's notes for the TA (old and new form)


def student_comment(comment):
    """A comment as the student may read it: without the grader's notes for the TA; None if nothing is left."""
    text = _NOTE_LINE.sub("", comment or "").strip()
    return text or None


class AwaitingManualGrade(Preprocessor):
    """After nbgrader's ``GetGrades``: a note under each written answer awaiting a person and under each item whose
    points a person set; the grader's notes out of the comments; each graded cell's :class:`grades.Item` in
    ``resources["rnnkit_items"]``, which :func:`summary_by_item` reads."""

    enabled = True   # nbconvert preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry
        info = resources.get("nbgrader", {})
        cells = []
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                cells.append(cell)
                meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
                if "comment" in meta:
                    meta["comment"] = student_comment(meta["comment"])
                if not (meta.get("grade") and meta.get("grade_id")):
                    continue
                try:
                    item = grades.item_of(gb.find_grade(meta["grade_id"], info["notebook"], info["assignment"],
                                                        info["student"]))
                except MissingEntry:
                    continue
                resources.setdefault("rnnkit_items", {})[meta["grade_id"]] = (item.name, item.status,
                                                                              item.max_score)
                if item.status == grades.AWAITING:
                    cells.append(nbformat.v4.new_markdown_cell(
                        f'<div class="rnnkit-awaiting">\n\n{AWAITING}\n\n</div>'))
                elif item.kind == grades.AUTOGRADED and item.by_hand:
                    cells.append(nbformat.v4.new_markdown_cell(
                        '<div class="rnnkit-awaiting">\n\n' + BY_HAND.format(score=item.score, top=item.max_score)
                        + "\n\n</div>"))
        nb.cells = cells
        return nb, resources


_TOC = re.compile(r'<li><a href="#([^"]+)">(?:Test cell|Written response|Coding free-response|Task)</a> '
                  r'\(Score: ([^)]*)\)</li>')


def summary_by_item(page, known):
    """nbgrader's summary at the top of the page names each cell's kind ("Test cell" six times): name the item,
    and say "awaiting a person" where a written answer has no grade yet (not 0.0 / 2.0). ``known``: ``{grade_id:
    (item, status, points)}`` (:class:`AwaitingManualGrade` gathers it)."""
    def named(match):
        grade_id, score = match.group(1), match.group(2)
        item, status, top = known.get(html_module.unescape(grade_id), (None, None, None))
        if item is None:
            return match.group(0)
        score = f"{status}, of {top:g}" if status != grades.GRADED else f"Score: {score}"
        return f'<li><a href="#{grade_id}">{html_module.escape(item)}</a> ({score})</li>'
    return _TOC.sub(named, page)


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
    return head + "<body>" + formulas_as_mathml(nbgrader_safe.clean_html(body)) + "</body>" + (tail if match else "")


class SafeFeedbackExporter(HTMLExporter):
    """nbgrader's feedback exporter (its ``feedback`` template), with :func:`safe_page` over the result."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        return safe_page(summary_by_item(output, resources.get("rnnkit_items", {}))), resources


# -- formulas: TeX to MathML on the server (the page runs no script) ----------------------------------------------

_TEX = re.compile(r"\$\$(.+?)\$\$|\$([^$\n]+?)\$", re.S)
_TAG = re.compile(r"(<[^>]*>)")
_VERBATIM = ("pre", "code", "style", "textarea", "math")
MATH_TAGS = {"math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msup", "msub",
             "msubsup", "mfrac", "msqrt", "mroot", "mover", "munder", "munderover", "mtable", "mtr", "mtd", "mstyle",
             "mpadded", "mphantom", "menclose", "mfenced"}
MATH_ATTRIBUTES = {"xmlns", "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
                   "accentunder", "columnalign", "rowalign", "width", "height", "depth", "minsize", "maxsize",
                   "movablelimits", "symmetric", "largeop", "form", "linethickness", "displaystyle", "scriptlevel",
                   "open", "close", "separators", "notation", "columnspacing", "rowspacing", "encoding"}


def _mathml(match):
    import latex2mathml.converter
    import nh3
    tex = html_module.unescape(match.group(1) if match.group(1) is not None else match.group(2))
    try:
        math = latex2mathml.converter.convert(tex, display="block" if match.group(1) is not None else "inline")
    except Exception:   # TeX the converter does not know stays as the reader typed it
        return match.group(0)
    return nh3.clean(math, tags=MATH_TAGS, attributes={tag: MATH_ATTRIBUTES for tag in MATH_TAGS})


def formulas_as_mathml(html):
    """Every ``$...$`` and ``$$...$$`` in the text of ``html`` (not in code) as MathML, itself cleaned by nh3 with a
    MathML allow-list; text that is not TeX the converter knows is left as it was."""
    parts, verbatim = _TAG.split(html), 0
    for index, part in enumerate(parts):
        if part.startswith("<"):
            tag = re.match(r"<(/?)\s*([a-zA-Z0-9]+)", part)
            if tag and tag.group(2).lower() in _VERBATIM and not part.endswith("/>"):
                verbatim = max(0, verbatim + (-1 if tag.group(1) else 1))
        elif not verbatim and "$" in part:
            parts[index] = _TEX.sub(_mathml, part)
    return "".join(parts)


# -- re-released feedback -----------------------------------------------------------------------------------------

def mark_replaced(course, student, assignment):
    """Before ``release_feedback``: if this student's page differs from the one released last time, a note at its top
    says that it replaces the one released then. Returns whether it did. The release is recorded in
    ``course/.rnnkit/released/``."""
    import datetime
    page = course.path("feedback", student, assignment, f"{assignment}.html")
    record = course.path(".rnnkit", "released", assignment, f"{student}.json")
    try:
        with open(page, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    text = re.sub(r'<div class="rnnkit-replaced">.*?</div>\n', "", text, flags=re.S)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        with open(record) as f:
            before = json.load(f)
    except (OSError, ValueError):
        before = {}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    replaced = bool(before.get("digest")) and before.get("digest") != digest
    if replaced:
        note = (f'<div class="rnnkit-replaced">\n<p><strong>This feedback replaces the one released on '
                f'{html_module.escape(str(before.get("when", "an earlier date")))}</strong>: your grades or the '
                "comments on them changed since. This page is the one that counts.</p></div>\n")
        text = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + "\n" + note, text, count=1, flags=re.I)
        with open(page, "w", encoding="utf-8") as f:
            f.write(text)
    if replaced or before.get("digest") != digest:
        os.makedirs(os.path.dirname(record), exist_ok=True)
        with open(record, "w") as f:
            json.dump({"digest": digest, "when": now}, f)
    return replaced
