"""Where formgrader's page templates come from: nbgrader's own, then rnnkit's (``autograder/templates/``).

The course's ``nbgrader_config.py`` imports this module, and every command that reads that config (``rnnkit
autograde`` handing its work to the grading service included) executes it: it finds nbgrader's folder without
importing nbgrader."""
import importlib.util
import os


def template_dirs():
    """nbgrader's templates (formgrade, feedback), then rnnkit's: ``base/mathjax.html.j2``, what nbgrader's grading
    page puts in its head, is formgrader's MathJax from the Jupyter server and a style without the red frame
    nbgrader's ``formgrade.css`` draws around every image (see :mod:`autograder.course`'s config block)."""
    nbgrader = importlib.util.find_spec("nbgrader").submodule_search_locations[0]
    return [os.path.join(nbgrader, "server_extensions", "formgrader", "templates"),
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")]
