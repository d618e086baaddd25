"""The messages that cross between rnnkit's processes, one typed record each (standard-library dataclasses).

Every hop encodes with :func:`encode` and decodes with :func:`decode`, which names the messages the hop expects:
anything else (not JSON, another type, a missing or unknown field, a field of the wrong type) is refused here, in
one place, with one :class:`MessageError` each. The hops:

    the grading service's socket   Hello Stop Status GradeTask Autograde  ->  Ready Stale Stopped StatusReport
                                                                              Graded Echo Done Refused Crashed
    a warm grader's pipe           JobRequest  ->  JobAnswer
    a zygote's control socket      Spawn Poll Kill Attach Ping  ->  Spawned Exited Pong

This module lives in the sandbox's folder (``autograder/sandbox/inside/``, the only project folder a sandbox
sees) because the zygote reads it there; it holds no secret and imports nothing but the standard library.
"""
from dataclasses import MISSING, asdict, dataclass, fields
import json

KINDS = {}


class MessageError(ValueError):
    """A message this hop does not expect, or a malformed one (one line, never a traceback of the peer's)."""


def message(cls):
    """Declares a message type (a frozen dataclass, known by its class name on the wire)."""
    cls = dataclass(frozen=True)(cls)
    KINDS[cls.__name__] = cls
    return cls


# -- the grading service's socket ------------------------------------------------------------------------------
@message
class Hello:
    key: str                  # the client's code, interpreter and secret's digest: another key stops the service


@message
class Stop:
    pass


@message
class Status:
    pass


@message
class GradeTask:
    key: str
    task: dict                # a Task's to_dict()
    jobs: int = 1


@message
class Autograde:
    key: str
    course_root: str
    assignments: list
    students: list = None
    sandbox: str = None
    force: bool = False
    jobs: int = 1
    settings: dict = None     # the course's Settings, as the client loaded them


@message
class Ready:
    pid: int


@message
class Stale:
    pid: int


@message
class Stopped:
    pass


@message
class StatusReport:
    pid: int
    courses: dict             # course folder -> seconds since it was last graded
    memory_mb: float          # resident memory of the service and everything it keeps warm
    idle: float               # seconds since the last command ended (0 while one runs)
    busy: int                 # commands and gradings under way


@message
class Graded:
    outcome: dict             # an Outcome's to_dict()


@message
class Echo:
    line: str


@message
class Done:
    failures: int


@message
class Refused:
    error: str                # an RnnkitError's one line


@message
class Crashed:
    traceback: str


# -- a warm grader's pipe --------------------------------------------------------------------------------------
@message
class JobRequest:
    id: int
    job: str                  # the job file's path (everything else is in it, written once)


@message
class JobAnswer:
    id: int
    code: int = None          # pytest's exit code, minus a signal number, or None: never ended
    output: str = ""


# -- a zygote's control socket ---------------------------------------------------------------------------------
@message
class Spawn:
    limits: dict              # every field of launch.Limits (no default on this side)
    threads: int


@message
class Poll:
    pid: int


@message
class Kill:
    pid: int


@message
class Attach:
    pass


@message
class Ping:
    pass


@message
class Spawned:
    pid: int


@message
class Exited:
    code: int = None          # None while the worker runs (or when it is not this connection's)


@message
class Pong:
    pass


def encode(msg):
    """One message as bytes (a JSON object with its ``type``; no newline)."""
    if type(msg) not in KINDS.values():
        raise MessageError(f"{type(msg).__name__} is not a message type")
    return json.dumps({"type": type(msg).__name__, **asdict(msg)}).encode()


def encode_line(msg):
    return encode(msg) + b"\n"


_TYPES = {int: (int,), float: (int, float), str: (str,), bool: (bool,), dict: (dict,), list: (list,)}


def decode(data, *expected):
    """The message in ``data`` (bytes or str), which must be one of the types ``expected``; raises
    :class:`MessageError` otherwise."""
    names = ", ".join(kind.__name__ for kind in expected)
    try:
        raw = json.loads(data)
    except (TypeError, ValueError):
        raise MessageError(f"not a message (expected {names}): {data[:60]!r}") from None
    kind = KINDS.get(raw.pop("type", None)) if isinstance(raw, dict) else None
    if kind not in expected:
        got = raw.get("type", type(raw).__name__) if isinstance(raw, dict) else type(raw).__name__
        raise MessageError(f"unexpected message {got!r} (expected {names})")
    values = {}
    for f in fields(kind):
        if f.name not in raw:
            if f.default is MISSING:
                raise MessageError(f"{kind.__name__} without its field {f.name!r}")
            continue
        value = raw.pop(f.name)
        allowed = _TYPES[f.type]
        if not (value is None and f.default is None) and (
                not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise MessageError(f"{kind.__name__}.{f.name} is a {type(value).__name__}, not a {f.type.__name__}")
        values[f.name] = value
    if raw:
        raise MessageError(f"{kind.__name__} with unknown field(s) {', '.join(sorted(raw))}")
    return kind(**values)
