"""Catalogues of realistic student bugs, one module per assignment (``bugs_NN_name.py``).

Each bug is a text substitution inside the reference body of one answer cell. The tests inject every bug into a
submission and prove that it loses points on the items in ``breaks`` and keeps every other item whole; the demo
uses a few of them as its simulated class.
"""
from dataclasses import dataclass, field
import importlib


@dataclass(frozen=True)
class Bug:
    name: str                 # short id, used as the simulated student's name
    cell: str                 # grade_id of the answer cell to patch
    old: str                  # exact text of the reference body to replace (must occur once in that cell)
    new: str                  # what a student wrote instead
    breaks: frozenset = field(default_factory=frozenset)  # items that must lose points
    why: str = ""             # what the student got wrong, in one sentence

    def __post_init__(self):
        object.__setattr__(self, "breaks", frozenset(self.breaks))


def catalogue(assignment):
    """The list of :class:`Bug` for an assignment such as ``"01_rnn_cell"``."""
    return importlib.import_module(f"autograder.hidden.{assignment}.bugs").BUGS
