"""What proves a hidden suite: realistic student bugs and correct variants, per assignment.

Both are text substitutions inside the reference body of one answer cell (``autograder/hidden/<a>/bugs.py`` and
``variants.py``). A bug must lose points on its own item and keep every other item whole (the suites grade items
that build on earlier ones with the earlier reference, see ``item(..., uses=...)``); a variant is another correct
solution and must score full marks everywhere. The tests, ``rnnkit validate`` and the demo use them.
"""
from dataclasses import dataclass, replace
import importlib


@dataclass(frozen=True)
class Bug:
    name: str       # short id, used as the simulated student's name
    cell: str       # grade_id of the answer cell to patch: the one item that must lose points
    old: str        # exact text of the reference body to replace (must occur once in that cell)
    new: str        # what a student wrote instead
    why: str = ""   # what the student got wrong, in one sentence
    hint: str = ""  # what to look at, for the student, once a failure looks like this bug's (see diagnosis.py)
    more: tuple = ()  # further (old, new) substitutions in the same cell, e.g. a decorator above the def line

    @property
    def student_hint(self):
        """The sentence the feedback shows: the hint, or else ``why`` turned into the same form ("code that ...")."""
        if self.hint:
            return self.hint
        why = self.why.strip()
        return f"code that {why[:1].lower()}{why[1:]}" if why else ""


@dataclass(frozen=True)
class Variant:
    name: str
    cell: str
    old: str
    new: str
    why: str = ""   # the other valid choice it makes


def with_hints(bugs, hints):
    """``bugs`` with their hints for students (``{bug name: hint}``, one hint per cause, shared by the bugs that have
    it); every bug needs one, and a hint for a bug that is not there (renamed, removed) is an error too."""
    names = [bug.name for bug in bugs]
    if set(names) != set(hints):
        raise ValueError(f"bugs without a hint: {sorted(set(names) - set(hints))}; hints without a bug: "
                         f"{sorted(set(hints) - set(names))}")
    return [replace(bug, hint=hints[bug.name]) for bug in bugs]


def _hidden(assignment, module):
    return importlib.import_module(f"autograder.hidden.{assignment}.{module}")


def catalogue(assignment):
    """The list of :class:`Bug` for an assignment such as ``"01_rnn_cell"``."""
    return list(_hidden(assignment, "bugs").BUGS)


def variants(assignment):
    """The list of :class:`Variant` (correct solutions other than the reference), or [] if none are written."""
    try:
        return list(_hidden(assignment, "variants").VARIANTS)
    except ModuleNotFoundError:
        return []


def substitute(source, change):
    """``source`` (the text of ``change.cell``) with every substitution of ``change`` made; fails loudly if one no
    longer fits (its text must occur exactly once)."""
    for old, new in ((change.old, change.new), *getattr(change, "more", ())):
        if source.count(old) != 1:
            raise ValueError(f"{change.name}: its text occurs {source.count(old)} times in cell {change.cell}")
        source = source.replace(old, new)
    return source


def apply(answers, change):
    """The answers with one :class:`Bug` or :class:`Variant` applied; fails loudly if it no longer fits."""
    return {**answers, change.cell: substitute(answers[change.cell], change)}
