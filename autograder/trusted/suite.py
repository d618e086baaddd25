"""What a hidden suite imports: the ``item`` marker, :class:`Flagged` and :func:`grading_settings`.

    @item("rnn_cell_backward", weight=2)
    def test_gradients(student, rng): ...

The fixtures ``student``, ``rng``, ``seed`` and ``hidden_seed`` come from :mod:`autograder.trusted.plugin`.
"""
import pytest

from assignments.common.checklib import CheckFailed
from autograder.settings import Settings

SETTINGS = None   # the grading's settings, set by the plugin before the suite is collected


def grading_settings():
    """The settings of this grading (the job's :class:`~autograder.settings.Settings`), for a suite's own limits
    such as ``train_timeout``; the defaults when a suite is imported outside a grading."""
    return SETTINGS if SETTINGS is not None else Settings()


class Flagged(CheckFailed):
    """A result no honest submission can produce (held-out data known in advance, a model that scored before any
    training): the check scores 0, the student reads :data:`FLAGGED_FOR_STUDENT`, and the reason (this exception's
    message) goes to the instructor alone: the autograde summary and the grader's log."""


FLAGGED_FOR_STUDENT = ("this check's result cannot come from a model that learnt only from its training call; it "
                       "scores 0 and your instructor will look at your submission")


ITEM_MARKER = "item(grade_id, weight, uses): the graded item a hidden test belongs to"


def item(grade_id, weight=1.0, uses=()):
    """Ties a test to the graded item ``grade_id``; the item's points are shared among its tests by weight.

    ``uses`` names earlier graded items (functions or classes) that this item's code calls: during this test the
    sandbox runs their reference implementation instead of the student's, so that a bug there costs points only
    on its own item.
    """
    return pytest.mark.item(grade_id, weight=float(weight), uses=tuple(uses))
