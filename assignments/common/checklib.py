"""Checks with messages a student can act on. Used by the public checks in the notebooks and by the hidden suites.

Every check converts what it is given to a plain NumPy array first (a TensorFlow tensor, a list, anything array
like), so a returned object can never vouch for itself, and raises :class:`CheckFailed` with a message that says
what to look at: expected vs got shape, the first mismatching index, the relative error and the tolerance.
"""
import re

import numpy as np


class CheckFailed(AssertionError):
    """A check did not pass; the message is written for the student."""


def to_array(value, name="the result", dtype=None):
    """Converts ``value`` to a NumPy array (of ``dtype`` if given) or fails with a one-line message.

    A ``tf.IndexedSlices`` (the tape's gradient of a ``tf.gather`` or an embedding lookup) is made dense first: it
    is a legitimate gradient, just stored as the rows that are not zero.
    """
    if type(value).__name__ == "IndexedSlices" and hasattr(value, "dense_shape"):
        import tensorflow as tf   # only TensorFlow makes IndexedSlices, so it is already imported
        value = tf.convert_to_tensor(value)
    if hasattr(value, "numpy") and callable(value.numpy):
        try:
            value = value.numpy()
        except Exception as err:  # a symbolic tensor, a broken object
            raise CheckFailed(f"{name}: could not read its value ({type(err).__name__}: {err})") from None
    try:
        array = np.asarray(value)
    except Exception as err:
        raise CheckFailed(f"{name}: expected an array, got {type(value).__name__} ({err})") from None
    if array.dtype == object or array.dtype.kind not in "biuf":
        raise CheckFailed(f"{name}: expected a numeric array, got {_describe(value)}")
    return array.astype(dtype) if dtype is not None else array


def _describe(value):
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    return f"a {type(value).__name__}"


def check_shape(got, shape, name="the result"):
    """Checks that ``got`` has exactly ``shape``; returns it as an array."""
    array = to_array(got, name)
    if tuple(array.shape) != tuple(shape):
        raise CheckFailed(f"{name}: expected shape {tuple(shape)}, got {tuple(array.shape)}")
    return array


def check_dtype(got, dtype, name="the result"):
    """Checks the dtype of ``got`` (a tensor or an array): every function must keep its inputs' dtype."""
    actual = getattr(got, "dtype", None)
    actual = np.dtype(getattr(actual, "as_numpy_dtype", actual)) if actual is not None else to_array(got, name).dtype
    if actual != np.dtype(dtype):
        raise CheckFailed(f"{name}: expected dtype {np.dtype(dtype).name} (the inputs' dtype), got {actual.name}")


def rel_error(a, b):
    """Relative error ||a - b|| / (||a|| + ||b||) over the whole array (0 when both are zero).

    Taken over the whole array rather than per element, so that entries that happen to be near zero do not blow
    it up: a correct float64 gradient scores about 1e-10 against centred differences, a wrong one 1e-2 or more.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / scale) if scale > 0 else 0.0


def check_finite(got, name="the result"):
    array = to_array(got, name)
    bad = ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise CheckFailed(f"{name}: contains {int(bad.sum())} NaN or infinite value(s), the first at index {index}")
    return array


def differing(expected, got):
    """``expected 0.12345678, got 0.12345691``: each value with as many significant digits as it takes to tell them
    apart (at least 6, at most 17), so that two different values never print alike."""
    for digits in range(6, 18):
        e, g = f"{expected:.{digits}g}", f"{got:.{digits}g}"
        if e != g:
            break
    return f"expected {e}, got {g}"


def _close(array, expected, rtol, atol):
    return ~(np.abs(array - expected) <= atol + rtol * np.abs(expected))


def likely_cause(got, causes, rtol=1e-5, atol=1e-6):
    """The sentence of the first of ``causes`` (sentence -> the values that mistake gives) whose values ``got``
    matches within the tolerance, or None: a wrong result that is exactly what a known mistake computes."""
    array = np.asarray(got, dtype=np.float64)
    for sentence, values in (causes or {}).items():
        values = np.asarray(values, dtype=np.float64)
        if values.shape == array.shape and not _close(array, values, rtol, atol).any():
            return sentence
    return None


def order_mistake(order, counts):
    """Why the tokens ``order`` are not by descending count, ties by code point (alphabetical), in one sentence
    ('' when the known mistakes do not explain it)."""
    got = [counts[token] for token in order]
    if got == sorted(got) and got != sorted(got, reverse=True):
        return "they come from the rarest to the most frequent: the most frequent gets the first id (descending count)"
    if got == sorted(got, reverse=True):
        return (f"the counts are in order but the ties are not sorted by code point (alphabetically): {order}; tokens "
                "seen equally often are sorted, whatever order they first appear in")
    if list(order) == sorted(order):
        return "they are sorted by code point (alphabetically) only: sort by descending count first, ties by code point"
    return ""


def check_close(got, expected, name="the result", rtol=1e-5, atol=1e-6, causes=None):
    """Checks values elementwise: |got - expected| <= atol + rtol * |expected|.

    The message names the first mismatching index with both values and the largest relative error. ``causes``
    (sentence -> values) names a likely mistake first when the values are exactly what that mistake gives.
    """
    expected = to_array(expected, f"expected {name}", np.float64)
    array = check_shape(got, expected.shape, name).astype(np.float64)
    check_finite(array, name)
    bad = _close(array, expected, rtol, atol)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        cause = likely_cause(array, causes, rtol, atol)
        raise CheckFailed(
            f"{name}: {cause + '. In numbers: ' if cause else ''}{int(bad.sum())} of {bad.size} values differ; "
            f"first at index {index}: "
            f"{differing(expected[index], array[index])} "
            f"(norm-wise relative error {rel_error(array, expected):.2e}; elementwise tolerance rtol={rtol:g}, "
            f"atol={atol:g})")
    return array


def check_gradient(got, expected, name="the gradient", tol=1e-7):
    """Checks a gradient by relative error (see :func:`rel_error`). All-zero, NaN or wrongly shaped gradients never
    pass; the message names the entry that differs most."""
    expected = to_array(expected, f"expected {name}", np.float64)
    array = check_shape(got, expected.shape, name).astype(np.float64)
    check_finite(array, name)
    if not np.any(array) and np.any(expected):
        raise CheckFailed(f"{name}: is all zeros, but the true gradient is not")
    error = rel_error(array, expected)
    if error > tol:
        worst = np.unravel_index(np.argmax(np.abs(array - expected)), array.shape)
        worst = tuple(int(i) for i in worst)
        raise CheckFailed(
            f"{name}: relative error {error:.2e} exceeds the tolerance {tol:.0e}; largest difference at index "
            f"{worst}: {differing(expected[worst], array[worst])}")
    return error


def check_gradients(got, expected, tol=1e-7, against="the expected gradients", what="the backward pass"):
    """Checks several gradients at once and reports all of them in one message, so that the pattern shows.

    Args:
        got: dict name -> gradient computed by the student (tensor or array), in the order to report.
        expected: dict name -> the true gradient, with the same names.
        tol: largest norm-wise relative error (see :func:`rel_error`) that passes.
        against: what the true gradients are, for the message ("numeric gradients", "tf.GradientTape", ...).
        what: what computed ``got``, for the message.

    Returns:
        dict name -> relative error, when every gradient passes. Otherwise raises :class:`CheckFailed` naming, for
        every gradient, its relative error or what is wrong with it (shape, NaN, all zeros); its ``wrong`` is the
        set of the wrong gradients' names.
    """
    errors, problems = {}, {}
    for name, value in got.items():
        truth = to_array(expected[name], f"expected {name}", np.float64)
        try:
            array = check_shape(value, truth.shape, name).astype(np.float64)
            check_finite(array, name)
        except CheckFailed as failure:
            problems[name] = str(failure).split(": ", 1)[-1]
            continue
        if not np.any(array) and np.any(truth):
            problems[name] = "all zeros, but the true gradient is not"
            continue
        errors[name] = rel_error(array, truth)
        if errors[name] > tol:
            problems[name] = f"relative error {errors[name]:.1e}"
    if not problems:
        return errors
    parts = [f"{name} {'✗ ' + problems[name] if name in problems else f'✓ {errors[name]:.0e}'}" for name in got]
    failure = CheckFailed(f"{len(problems)} of {len(got)} gradients of {what} are wrong (norm-wise relative error vs "
                          f"{against}, tolerance {tol:.0e}): " + "; ".join(parts))
    failure.wrong = set(problems)   # for the checks that say what the pattern of wrong gradients means
    raise failure


def numeric_gradient(f, x, upstream, h=1e-5):
    """Centred finite differences of ``sum(f(x) * upstream)`` with respect to the float64 array ``x``.

    Args:
        f: a function of ``x`` alone returning an array (or tensor) of any shape.
        x: float64 NumPy array (left unchanged).
        upstream: array of the shape of ``f(x)``, the gradient flowing into ``f``'s output.
        h: step size.

    Returns:
        Array of ``x``'s shape: d sum(f(x) * upstream) / dx.
    """
    return numeric_gradient_of_many(lambda points: (f(point) for point in points), x, upstream, h)


def numeric_gradient_of_many(f_many, x, upstream, h=1e-5):
    """:func:`numeric_gradient` with every evaluation in one call: ``f_many`` takes the 2 * x.size points
    ``x + h e_i, x - h e_i, ...`` (an iterable, made one at a time as it is read) and returns ``f`` at each, in
    order, as a list or an iterable (for a function that is cheaper to run on many points at once, such as one
    that must cross a process boundary). Each value is reduced as it comes, so memory stays of the order of x."""
    x = np.asarray(x)
    upstream = np.asarray(upstream, dtype=np.float64)
    indices = list(np.ndindex(x.shape))

    def points():
        for index in indices:
            for step in (h, -h):
                point = x.copy()
                point[index] = x[index] + step
                yield point
    sums = [np.sum(to_array(v, dtype=np.float64) * upstream) for v in f_many(points())]   # one value at a time
    if len(sums) != 2 * len(indices):
        raise CheckFailed(f"expected {2 * len(indices)} values for the finite differences, got {len(sums)}")
    grad = np.zeros_like(x, dtype=np.float64)
    for k, index in enumerate(indices):
        grad[index] = (sums[2 * k] - sums[2 * k + 1]) / (2 * h)
    return grad


def left_tensorflow(name, kind):
    """The sentence for a function ``name`` that returned ``kind`` ("a NumPy array", ...) where a TensorFlow tensor
    is due; the public checks and the hidden suites say the same."""
    return (f"{name} returned {kind}, not a TensorFlow tensor: a NumPy function (np.tanh, np.dot, np.exp, ...) or "
            f".numpy() inside {name} leaves TensorFlow, and no gradient can flow back through it; use the tf. "
            "functions (tf.tanh, tf.matmul or @, tf.exp, ...)")


_MIXED_DTYPES = re.compile(r"expected to be a (double|float|half) tensor but is a (double|float|half) tensor|"
                           r"cannot compute \w+ as input #\d+\(zero-based\) was expected to be a (double|float)")


def error_cause(text):
    """A sentence on the usual cause of an error whose own words (``text``) do not say it ('' if none is known);
    the public checks and the hidden suites' reports of a raised error add the same."""
    if _MIXED_DTYPES.search(str(text)):
        return (" (float32 and float64 tensors met in one operation: tf.zeros, tf.ones, tf.constant and the "
                "tf.random functions make float32 unless given dtype=, so build such tensors with tf.zeros_like(x) "
                "or dtype=x.dtype to keep the inputs' dtype)")
    return ""


def type_name(value):
    """The name of ``value``'s type, as the student's code made it: a handle on an object that stayed in the
    student's process (which has a ``type_name``) is named by that object's type."""
    return str(getattr(value, "type_name", None) or type(value).__name__)


def type_phrase(type_name):
    """How a message names a value of the Python type ``type_name``: "a NumPy array", "a Python list", ..."""
    return {"ndarray": "a NumPy array", "list": "a Python list", "tuple": "a Python tuple"}.get(type_name,
                                                                                               f"a {type_name}")


def reshape_one_short(text):
    """Whether an error message ``text`` (NumPy's or TensorFlow's) reports a reshape of one value fewer than the
    requested shape holds: what slicing ``n * length`` values off a sequence one value too short gives."""
    found = re.search(r"array of size (\d+) into shape \(([\d, ]+)\)", text)
    if found:
        size, shape = int(found.group(1)), [int(k) for k in found.group(2).replace(" ", "").split(",") if k]
        return size == int(np.prod(shape)) - 1
    found = re.search(r"tensor with (\d+) values, but the requested shape has (\d+)", text)
    return bool(found) and int(found.group(1)) == int(found.group(2)) - 1
