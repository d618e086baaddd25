"""The project's own error type: what an instructor can act on, shown as one line (anything else is a bug and
shows its traceback)."""


class RnnkitError(Exception):
    """A problem with the input or the set-up that the instructor can fix; its message is one line."""
