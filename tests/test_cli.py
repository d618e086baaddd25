"""The command line: help everywhere, one-line errors with a non-zero exit on bad input."""
import subprocess
import sys

import pytest

from autograder import cli

SUBCOMMANDS = ["build", "release", "collect", "autograde", "feedback", "export", "report", "validate", "demo"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help_and_course_dir(command, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([command, "--help"])
    assert exit.value.code == 0
    assert "--course-dir" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["autograde", "--course-dir", "/nonexistent/course"], "nothing is built"),
    (["build", "99_nothing", "--course-dir", "{tmp}"], "no assignment '99_nothing'"),
    (["report", "99_nothing", "--course-dir", "{built}"], "not built"),
    (["release", "99_nothing", "--course-dir", "{built}"], "not built"),
])
def test_bad_input_is_one_line_and_nonzero(argv, message, tmp_path, built, capsys):
    course, _ = built
    argv = [a.format(tmp=tmp_path, built=course.root) for a in argv]
    assert cli.main(argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_entry_point_is_installed():
    proc = subprocess.run([sys.executable, "-m", "autograder.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "autograde" in proc.stdout
