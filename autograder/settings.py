"""Every limit, timeout and budget of grading, in one place, with one default each.

Set them in the course's ``nbgrader_config.py``, as nbgrader's own settings are set (instructors already edit
that file), or from the environment, which wins (``RNNKIT_`` and the name in capitals)::

    c = get_config()
    c.Rnnkit.call_timeout = 60       # seconds
    c.Rnnkit.memory_gb = 3.0

    RNNKIT_CALL_TIMEOUT=60 rnnkit autograde

:func:`load` reads them on the instructor's side; the grading job carries them to every other process as a plain
dict (:meth:`Settings.to_dict`), so no other module reads the environment for a limit.
"""
from dataclasses import asdict, dataclass, field, fields
import os

from autograder.errors import RnnkitError

SECTION = "Rnnkit"          # c.Rnnkit.<name> in nbgrader_config.py
ENV_PREFIX = "RNNKIT_"


def _setting(default, help_text):
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Settings:
    call_timeout: float = _setting(120.0, "seconds of CPU time one call into the student's code may take")
    load_timeout: float = _setting(180.0, "seconds of CPU time running the student's answer cells may take")
    budget: float = _setting(0.0, "seconds of CPU time all of one submission's student code may take together; "
                                  "0: 3 x what the reference needs on a loaded 2-core machine, at least 180")
    wall_factor: float = _setting(3.0, "wall-clock seconds that count as one second of CPU time (code that sleeps "
                                       "or waits still ends); where the machine cannot count a submission's CPU "
                                       "time, every timeout is wall-clock seconds")
    threads: int = _setting(2, "TensorFlow threads of the student's process")
    memory_gb: float = _setting(4.0, "address space of each student process (TensorFlow alone maps about 1.9 GB)")
    processes: int = _setting(1024, "processes and threads of each student process (RLIMIT_NPROC)")
    group_memory_gb: float = _setting(3.0, "resident memory of all of a submission's processes together (a cgroup, "
                                           "where the machine has one)")
    group_processes: int = _setting(1024, "processes and threads of a submission together (a cgroup)")
    file_mb: int = _setting(64, "largest file the student's code may write")
    tmp_mb: int = _setting(256, "size of the sandbox's private /tmp")
    scratch_mb: int = _setting(256, "size of the sandbox's scratch folder (the released files, read-only, and "
                                    "what the student's code writes)")
    trusted_memory_gb: float = _setting(8.0, "address space of the trusted process that grades one submission")
    suite_timeout: float = _setting(3600.0, "seconds the whole hidden suite of one submission may take")
    retries: int = _setting(1, "times a grader failure is retried within one run (the next run retries again)")
    train_timeout: float = _setting(300.0, "seconds one training call of a hidden suite may take (Assignments 2 "
                                           "and 3; the reference needs under 10)")
    warm: bool = _setting(True, "warm graders and zygotes (TensorFlow imported once); false grades cold")
    service: bool = _setting(True, "keep a warm grader running between commands (one grading service per "
                                   "instructor account)")
    service_idle: float = _setting(900.0, "seconds without work after which the grading service ends")
    warm_memory_gb: float = _setting(2.5, "resident memory of what the grading service keeps warm (a warm grader, "
                                          "about 0.7 GB, and its zygotes); past it the least recently used go")
    ta_group: str = _setting("", "Unix group that may read and grade the course besides the instructor (empty: "
                                 "the instructor alone)")

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, data):
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def __post_init__(self):
        """Each value is of its setting's type and not negative (as :func:`load` checks what it reads)."""
        for setting in fields(self):
            value = getattr(self, setting.name)
            kind = type(setting.default)
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, setting.name, value := float(value))
            if type(value) is not kind:
                raise RnnkitError(f"setting {setting.name}: {value!r} is not a {kind.__name__}")
            if kind in (int, float) and value < 0:
                raise RnnkitError(f"setting {setting.name}: {value!r} must not be negative")
        if self.wall_factor < 1:
            raise RnnkitError(f"setting wall_factor: {self.wall_factor!r} must be at least 1 (a wall-clock second "
                              "never counts for more than a second of CPU time)")

    def sandbox_limits(self, budget=None):
        """The :class:`~autograder.sandbox.launch.Limits` of a student process whose code may take ``budget``
        seconds of CPU time (None: the default budget): a CPU-time backstop of the budget x threads (+ 60 s)."""
        from autograder.sandbox import launch
        budget = self.budget_for(None) if budget is None else budget
        return launch.Limits(memory_gb=self.memory_gb, cpu_seconds=int(budget * self.threads) + 60,
                             file_mb=self.file_mb, processes=self.processes, tmp_mb=self.tmp_mb,
                             scratch_mb=self.scratch_mb, group_memory_gb=self.group_memory_gb,
                             group_processes=self.group_processes)

    def budget_for(self, assignment):
        """Seconds of wall clock one submission's student code may use (the ``budget`` setting, or its default)."""
        if self.budget > 0:
            return float(self.budget)
        return float(max(BUDGET_FLOOR, BUDGET_FACTOR * REFERENCE_SECONDS.get(assignment, 60)))


# Wall-clock seconds the reference's code took inside the sandbox over a whole grading (loading included:
# ``provenance.student_seconds``) on 2 cores under a load of about 12, i.e. six jobs per core; a submission gets
# BUDGET_FACTOR times that, at least BUDGET_FLOOR, so that a busy machine never fails a correct submission. The
# budget now counts CPU seconds (autograder/sandbox/cpu.py), of which the reference is charged far fewer (about 0.9
# for Assignment 1 and 15 for Assignment 3 on a loaded machine, 2026-12-07): the same figures, a wider margin.
REFERENCE_SECONDS = {"01_rnn_cell": 20, "02_sentiment": 135, "03_char_lm": 105}
BUDGET_FACTOR, BUDGET_FLOOR = 3, 180


def secret(environ=None):
    """``RNNKIT_SECRET``: a fixed course secret (hex) that makes gradings reproducible across courses (tests,
    benchmarks), or None: each course keeps its own (:meth:`autograder.course.Course.secret`)."""
    return (os.environ if environ is None else environ).get("RNNKIT_SECRET") or None


def required_sandbox(environ=None):
    """``RNNKIT_REQUIRE_SANDBOX``: the isolation level grading must have (CI sets it), or None: the strongest
    available."""
    return (os.environ if environ is None else environ).get("RNNKIT_REQUIRE_SANDBOX") or None


def _convert(setting, text, where):
    kind = setting.type if isinstance(setting.type, type) else type(setting.default)
    try:
        if kind is bool:
            if isinstance(text, bool):
                return text
            if str(text).strip().lower() in ("1", "true", "yes", "on"):
                return True
            if str(text).strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        value = kind(text)
    except (TypeError, ValueError):
        raise RnnkitError(f"{where}: {text!r} is not a {kind.__name__}") from None
    if kind in (int, float) and value < 0:
        raise RnnkitError(f"{where}: {text!r} must not be negative")
    return value


def _from_config_file(course_root):
    """``c.Rnnkit.*`` of ``<course_root>/nbgrader_config.py`` (a trusted file: the instructor's)."""
    path = os.path.join(course_root, "nbgrader_config.py") if course_root else None
    if not path or not os.path.isfile(path):
        return {}
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader
    try:
        config = PyFileConfigLoader(os.path.basename(path), os.path.dirname(path)).load_config()
    except ConfigFileNotFound:
        return {}
    except Exception as err:
        raise RnnkitError(f"{path} cannot be read: {type(err).__name__}: {err}") from None
    return dict(config[SECTION]) if SECTION in config else {}


def load(course_root=None, environ=None):
    """The settings of a course: the environment over ``nbgrader_config.py`` over the defaults.

    An unknown name in ``c.Rnnkit`` or a value of the wrong type is one clear error, not a silent default."""
    environ = os.environ if environ is None else environ
    known = {f.name: f for f in fields(Settings)}
    values = {}
    for name, value in _from_config_file(course_root).items():
        if name not in known:
            raise RnnkitError(f"nbgrader_config.py: c.{SECTION}.{name} is not a setting; the settings are: "
                              + ", ".join(known))
        values[name] = _convert(known[name], value, f"c.{SECTION}.{name}")
    for name, setting in known.items():
        text = environ.get(ENV_PREFIX + name.upper())
        if text not in (None, ""):
            values[name] = _convert(setting, text, ENV_PREFIX + name.upper())
    return Settings(**values)


def table():
    """The settings as a markdown table (the README's)."""
    rows = ["| setting (`c.Rnnkit.…`) | environment | default | what it limits |", "| --- | --- | --- | --- |"]
    for setting in fields(Settings):
        rows.append(f"| `{setting.name}` | `{ENV_PREFIX}{setting.name.upper()}` | `{setting.default!r}` | "
                    f"{setting.metadata['help']} |")
    return "\n".join(rows)
