"""The gradebook's own guard: autograded scores change only inside rnnkit's writes.

rnnkit's transaction adds a row to ``rnnkit_writer`` and removes it before committing, so no other connection ever
sees one (SQLite has one writer at a time and never shows uncommitted rows); any other update of ``grade.auto_score``
(nbgrader's SaveAutoGrades run by a config without rnnkit's block, a script) is refused with :data:`REFUSAL`.
Manual grades are not touched.
"""
import contextlib
import warnings

import sqlalchemy
import sqlalchemy.exc
from nbgrader.api import Gradebook

REFUSAL = ("rnnkit: autograded scores in this gradebook are written by the trusted rnnkit grader only, so "
           "nothing was changed; run rnnkit autograde, or nbgrader with the nbgrader_config.py of the course")
GUARD = [
    "CREATE TABLE IF NOT EXISTS rnnkit_writer (since TEXT)",
    "CREATE TRIGGER IF NOT EXISTS rnnkit_trusted_auto_score BEFORE UPDATE OF auto_score ON grade "
    "WHEN NEW.auto_score IS NOT OLD.auto_score AND NOT EXISTS (SELECT 1 FROM rnnkit_writer) "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]


@contextlib.contextmanager
def trusted_writes(course):
    """nbgrader's Gradebook, open for rnnkit's own writes (see :data:`GUARD`); commits on success."""
    with warnings.catch_warnings(), Gradebook(course.db_url) as gb:
        # nbgrader's own submission code trips SQLAlchemy's autoflush notices; they say nothing about our data
        warnings.simplefilter("ignore", category=sqlalchemy.exc.SAWarning)
        for statement in GUARD:
            gb.db.execute(sqlalchemy.text(statement))
        gb.db.commit()

        def allow():
            """Opens the guard for the rest of this transaction: call it after nbgrader's own API calls (they
            commit), right before the scores are set, so that the row is never committed."""
            gb.db.execute(sqlalchemy.text("INSERT INTO rnnkit_writer VALUES (datetime('now'))"))
        gb.allow_rnnkit_scores = allow
        try:
            yield gb
            gb.db.flush()
            gb.db.execute(sqlalchemy.text("DELETE FROM rnnkit_writer"))
            gb.db.commit()
        except BaseException:
            gb.db.rollback()
            raise
