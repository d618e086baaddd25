"""Progress an instructor can watch: done/total, elapsed, ETA and failures on a terminal (tqdm), plain lines
otherwise (a log file, CI)."""
import sys

from tqdm import tqdm


class Progress:
    """``with Progress(total, "grading", echo) as bar: bar.done(line, failed=False)``"""

    def __init__(self, total, what, echo=print, stream=None):
        self.echo, self.failures = echo, 0
        stream = stream or sys.stderr
        self.bar = tqdm(total=total, desc=what, unit="submission", file=stream, dynamic_ncols=True, leave=True,
                        disable=not (total and hasattr(stream, "isatty") and stream.isatty()))

    def done(self, line, failed=False):
        self.failures += bool(failed)
        if self.bar.disable:
            self.echo(line)
        else:
            self.bar.write(line, file=self.bar.fp)
            self.bar.set_postfix(failures=self.failures, refresh=False)
            self.bar.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()
