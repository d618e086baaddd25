"""The guard around the public checks of every notebook: checks that explain instead of crashing.

A check cell reads::

    with public_check("rnn_forward"):
        H = call(rnn_forward, X, H0, W_xh, W_hh, b_h)
        check_close(H, expected, "H")

* Whatever goes wrong inside the block ends the cell with one sentence starting with ✗, never a traceback: a stub
  says "not implemented yet"; an exception raised in your code says which call raised it, with which argument
  shapes, where (function and line) and what it said; a failed comparison gives the check's own message.
* ``call(f, ...)`` runs your function and describes the call if it raises. ``call_tf(f, ...)`` does the same for a
  function that must stay in TensorFlow: it also checks that the result is a tensor and that a gradient flows
  from it back to every float input.
* Cells after a part that did not pass start with ``if ready("rnn_forward", ...):`` and skip politely.

Nothing here knows a solution: the truth always comes from the check cell (NumPy, finite differences, Keras).
"""
import ast
import contextlib
import functools
import inspect
import os
import re
import sys
import textwrap

import numpy as np

from checklib import CheckFailed, error_cause, left_tensorflow

_passed = set()       # items whose public checks passed when they last ran (in this kernel)
_failures = {}        # item -> the sentence its last check printed

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class CallFailed(CheckFailed):
    """Your function raised an exception; the message says which call, where and what."""


class NotImplementedYet(CheckFailed):
    """The item of the check is still the stub of the release; the message says so."""


# --------------------------------------------------------------------------------------------------- describing

def describe_value(value, depth=0):
    """A short description of an argument: dtype and shape for tensors and arrays, keys for dicts."""
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not isinstance(value, (np.generic, type)):
        dtype = getattr(dtype, "name", str(dtype))
        kind = "array" if isinstance(value, np.ndarray) else "tensor"
        try:
            shape = tuple(int(s) if s is not None else None for s in shape)
        except TypeError:
            pass
        return f"{dtype} {kind} {shape}"
    if isinstance(value, dict) and depth == 0:
        inner = ", ".join(f"{k}: {describe_value(v, 1)}" for k, v in list(value.items())[:8])
        return "{" + inner + (", ..." if len(value) > 8 else "") + "}"
    if isinstance(value, (list, tuple)) and depth == 0 and len(value) <= 4:
        inner = ", ".join(describe_value(v, 1) for v in value)
        return ("[" + inner + "]") if isinstance(value, list) else ("(" + inner + ")")
    if isinstance(value, (list, tuple, dict)):
        return f"{type(value).__name__} of {len(value)}"
    text = repr(value)
    return text if len(text) <= 30 else text[:27] + "..."


def _short(qualname):
    """``f.<locals>.g`` -> ``g``: the name as the student wrote it."""
    return qualname.split("<locals>.")[-1] if qualname else qualname


def describe_call(func, args, kwargs):
    """``name(arg=description, ...)`` with the parameter names of ``func`` where they can be found."""
    name = _short(getattr(func, "__qualname__", None) or getattr(func, "__name__", None) or type(func).__name__)
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs)
        parts = [f"{key}={describe_value(value)}" for key, value in bound.arguments.items()]
    except (TypeError, ValueError):
        parts = [describe_value(a) for a in args] + [f"{k}={describe_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def one_line(err):
    """The gist of an exception in one line: no ANSI colour codes, no TensorFlow node names, no Keras banners."""
    text = getattr(err, "message", None) if hasattr(err, "op") else None   # tf.errors.OpError keeps it apart
    text = _ANSI.sub("", str(text if text is not None else err))
    text = re.sub(r"\{\{function_node [^}]*\}\}", "", text)
    text = re.sub(r"\s*name:\s*$", "", text.strip())
    lines = [line.strip(" \t:") for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("Arguments received by", "•", "Exception "
                                                                         "encountered when calling"))]
    text = " ".join(lines) if lines else type(err).__name__
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= 300 else text[:297] + "..."


def _user_frame(tb):
    """The deepest frame of the traceback that is notebook code (a cell), not a library: (function, line)."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        library = "site-packages" in filename or "dist-packages" in filename or filename.startswith(sys.prefix) \
            or filename.startswith(getattr(sys, "base_prefix", sys.prefix)) \
            or os.path.basename(filename) in ("publiccheck.py", "checklib.py")
        if not library:
            code = tb.tb_frame.f_code
            found = (_short(getattr(code, "co_qualname", code.co_name)), tb.tb_lineno)
        tb = tb.tb_next
    return found


def _raising_function(tb):
    """The qualified name of the function whose frame raised (the last frame of the traceback)."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    if last is None:
        return None
    code = last.tb_frame.f_code
    return getattr(code, "co_qualname", code.co_name)


def _owner(qualname):
    """``CharRNNLM.__init__`` -> ``CharRNNLM``; ``rnn_forward`` -> ``rnn_forward``."""
    if not qualname:
        return None
    return _short(qualname).split(".")[0]


# --------------------------------------------------------------------------------------------------- calling

def cause(err):
    """A sentence on the usual cause of an error whose own words do not say it ('' if none is known)."""
    return error_cause(err)


def call(func, *args, **kwargs):
    """``func(*args, **kwargs)``; an exception becomes one sentence: the call, the argument shapes, where, what."""
    try:
        return func(*args, **kwargs)
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as err:
        where = _user_frame(err.__traceback__)
        at = f" in {where[0]}, line {where[1]} of its cell" if where else ""
        raise CallFailed(f"{describe_call(func, args, kwargs)} raised {type(err).__name__}{at}: {one_line(err)}"
                         f"{cause(err)}") from None


def call_list(func, *args, **kwargs):
    """``list(func(*args, **kwargs))`` for a generator function, with the errors of :func:`call` (an exception raised
    while the generator runs is described with the call that made it)."""
    try:
        return list(func(*args, **kwargs))
    except (CheckFailed, NotImplementedError):
        raise
    except Exception as err:
        where = _user_frame(err.__traceback__)
        at = f" in {where[0]}, line {where[1]} of its cell" if where else ""
        raise CallFailed(f"list({describe_call(func, args, kwargs)}) raised {type(err).__name__}{at}: "
                         f"{one_line(err)}") from None


def _float_tensors(value, path):
    """(path, tensor) of every floating-point TensorFlow tensor inside an argument (dicts and lists too)."""
    import tensorflow as tf
    if isinstance(value, (tf.Tensor, tf.Variable)) and value.dtype.is_floating:
        return [(path, value)]
    if isinstance(value, dict):
        return [pair for key, v in value.items() for pair in _float_tensors(v, f"{path}['{key}']")]
    if isinstance(value, (list, tuple)):
        return [pair for i, v in enumerate(value) for pair in _float_tensors(v, f"{path}[{i}]")]
    return []


def call_tf(func, *args, **kwargs):
    """Like :func:`call`, for a function that must stay in TensorFlow so that gradients flow through it.

    Checks that the result is a TensorFlow tensor (a NumPy array means some step left TensorFlow) and that the
    gradient of its sum reaches every floating-point tensor among the arguments.
    """
    import tensorflow as tf
    name = getattr(func, "__name__", type(func).__name__)
    try:
        bound = inspect.signature(func).bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        bound = {f"argument {i}": a for i, a in enumerate(args)}
    inputs = [pair for key, value in bound.items() for pair in _float_tensors(value, key)]
    with tf.GradientTape(persistent=True) as tape:
        for _, tensor in inputs:
            tape.watch(tensor)
        result = call(func, *args, **kwargs)
        outputs = result if isinstance(result, (tuple, list)) else [result]
        for output in outputs:
            if isinstance(output, np.ndarray) or np.isscalar(output) or not tf.is_tensor(output):
                raise CheckFailed(left_tensorflow(name, _kind(output)))
        total = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float64)) for o in outputs if o.dtype.is_floating]) \
            if any(o.dtype.is_floating for o in outputs) else None
    if total is not None:
        missing = [path for (path, tensor) in inputs if tape.gradient(total, tensor) is None]
        if missing and len(missing) < len(inputs):   # gradients reach the other inputs: these are not used
            raise CheckFailed(
                f"{name} does not use {', '.join(missing)}: no gradient flows from its result back to "
                f"{'it' if len(missing) == 1 else 'them'}, while it does to the other inputs (is a term of the "
                f"equation missing? If {'it is' if len(missing) == 1 else 'they are'} used, the computation left "
                f"TensorFlow on the way: a NumPy function, .numpy(), or tf.constant of an intermediate result)")
        if missing:
            raise CheckFailed(
                f"no gradient flows from the result of {name} back to {', '.join(missing)}: somewhere inside "
                f"{name} the computation left TensorFlow (a NumPy function such as np.tanh, .numpy(), or "
                f"tf.constant of an intermediate result) or does not use {'it' if len(missing) == 1 else 'them'}")
    return result


def _kind(value):
    if isinstance(value, np.ndarray):
        return f"a NumPy array ({value.dtype} {value.shape})"
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------------------------------------- spies

@contextlib.contextmanager
def watching(targets):
    """Records which of ``targets`` ((owner, attribute, label)) run inside the block: yields the list of labels.
    Each attribute is put back as it was (an inherited one is removed again, not copied onto its owner)."""
    seen, saved = [], []
    for owner, attr, label in targets:
        original, own = getattr(owner, attr), attr in vars(owner)

        @functools.wraps(original)
        def spy(*args, _original=original, _label=label, **kwargs):
            seen.append(_label)
            return _original(*args, **kwargs)
        saved.append((owner, attr, original, own))
        setattr(owner, attr, spy)
    try:
        yield seen
    finally:
        for owner, attr, original, own in reversed(saved):
            if own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)


def autodiff_watch():
    """Records TensorFlow's automatic-differentiation entry points that run inside the block."""
    from tensorflow.python.eager import forwardprop, imperative_grad
    from tensorflow.python.ops import gradients_util
    return watching([(imperative_grad, "imperative_grad", "tf.GradientTape"),
                     (gradients_util, "_GradientsHelper", "tf.gradients"),
                     (forwardprop.ForwardAccumulator, "__enter__", "tf.autodiff.ForwardAccumulator")])


# --------------------------------------------------------------------------------------------------- the guard

def explain(err, item):
    """The one sentence a check cell prints when ``err`` ended the check of ``item``."""
    if isinstance(err, NotImplementedYet):
        return str(err)
    if isinstance(err, NotImplementedError):
        missing = _owner(_raising_function(err.__traceback__)) or item
        if missing == item:
            return f"{item} is not implemented yet: write its body in the answer cell above, then run that cell " \
                   "and this one again."
        return f"{item}: its check needs {missing}, which is not implemented yet (finish {missing} first)."
    if isinstance(err, NameError):
        name = getattr(err, "name", None) or one_line(err)
        return f"{item}: {name} is not defined: run its answer cell (and the cells above it) first."
    if isinstance(err, CheckFailed):
        text = _ANSI.sub('', str(err))
        return text if text.startswith(f"{item}: ") else f"{item}: {text}"   # never "item: item: ..."
    where = _user_frame(err.__traceback__)
    at = f" in {where[0]}, line {where[1]} of its cell" if where else ""
    return f"{item}: the check stopped with {type(err).__name__}{at}: {one_line(err)}"


class public_check:
    """Runs a check cell's body; prints ``✓ item looks right`` or one sentence starting with ✗ (never raises).

    Set ``.note`` on the returned object to add a few words to the ✓ line.
    """

    def __init__(self, item):
        self.item, self.note = item, ""
        self._namespace = sys._getframe(1).f_globals   # the notebook's, where the item is defined

    def require(self, *items):
        """Stops the check, politely, if the item is still a stub or if the checks of ``items`` (earlier parts it
        builds on) have not passed."""
        if is_stub(self._namespace.get(self.item)):
            raise NotImplementedYet(f"{self.item} is not implemented yet: write its body in the answer cell above, "
                                    "then run that cell and this one again.")
        missing = [item for item in items if item not in _passed]
        if missing:
            raise CheckFailed(f"this check uses your {' and '.join(missing)}: make "
                              f"{'its' if len(missing) == 1 else 'their'} checks pass first.")

    def __enter__(self):
        _passed.discard(self.item)
        _failures.pop(self.item, None)
        return self

    def __exit__(self, kind, err, tb):
        if kind is None:
            _passed.add(self.item)
            print(f"✓ {self.item} looks right{self.note}")
            return False
        if not issubclass(kind, Exception):
            return False   # KeyboardInterrupt, SystemExit: not ours to swallow
        if err is None:
            err = kind()
        err.__traceback__ = err.__traceback__ or tb
        message = explain(err, self.item)
        _failures[self.item] = message
        print(f"✗ {message}")
        return True


def is_stub(func):
    """Whether ``func`` is a function whose body (after its docstring) is only ``raise NotImplementedError...``."""
    try:
        node = ast.parse(textwrap.dedent(inspect.getsource(func))).body[0]
    except (OSError, TypeError, SyntaxError, IndexError):
        return False
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) and \
        isinstance(node.body[0].value, ast.Constant) and isinstance(node.body[0].value.value, str) else node.body
    return len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in ast.unparse(body[0])


def passed(item):
    """Whether the public checks of ``item`` passed when they last ran."""
    return item in _passed


def ready(*items):
    """True if the checks of every item passed; otherwise prints why the cell is skipped and returns False."""
    waiting = [item for item in items if item not in _passed]
    if not waiting:
        return True
    reasons = []
    for item in waiting:
        failure = _failures.get(item, "")
        if "not implemented yet" in failure:
            reasons.append(f"{item} (not implemented yet)")
        elif failure:
            reasons.append(f"{item} (its checks did not pass)")
        else:
            reasons.append(f"{item} (its checks have not run yet)")
    print(f"Skipped: this cell needs {', '.join(reasons)}. Run it again once those checks print ✓.")
    return False
