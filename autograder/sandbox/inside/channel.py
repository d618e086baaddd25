"""The narrow channel between the trusted grader and the sandboxed student process.

One JSON document per line. Values are plain JSON, with four tagged forms:

    {"__nd__": "<base64 .npy>"}    a numeric NumPy array (loaded with allow_pickle=False: no objects, ever)
    {"__np__": {"__nd__": ...}}    an array that the student function receives as NumPy, not as a tf tensor
    {"__rng__": 7}                 np.random.default_rng(7), built on the receiving side
    {"__ref__": 3, "type": "..."}  a handle to an object that stays in the student process
    {"__map__": [[key, value]...]} a dict (tagged, so a student's dict can never pose as a tagged form)

This module is imported on both sides; it must stay free of anything secret.
"""
import base64
import io
import json

import numpy as np


class Ref:
    """An opaque handle to an object living in the student process (a model, a generator, a state)."""

    def __init__(self, ref, type_name="object"):
        self.ref, self.type_name = int(ref), str(type_name)

    def __repr__(self):
        return f"<{self.type_name} in the student process>"


class numpy_arg:
    """Marks an argument that the student function must receive as a NumPy array rather than a tensor."""

    def __init__(self, array):
        self.array = np.asarray(array)


class rng_arg:
    """Marks an argument that the student function receives as ``np.random.default_rng(seed)``."""

    def __init__(self, seed):
        self.seed = int(seed)


def _array_to_b64(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)  # (ascontiguousarray would turn a 0-d array into shape (1,))
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _b64_to_array(text):
    return np.load(io.BytesIO(base64.b64decode(text)), allow_pickle=False)


def encode(value, keep=None):
    """Turns a value into JSON-able data. ``keep(obj) -> int`` stores unconvertible objects (student side only)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    if isinstance(value, numpy_arg):
        return {"__np__": {"__nd__": _array_to_b64(value.array)}}
    if isinstance(value, rng_arg):
        return {"__rng__": value.seed}
    if isinstance(value, Ref):
        return {"__ref__": value.ref, "type": value.type_name}
    if isinstance(value, np.generic):
        return encode(value.item(), keep)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__nd__": _array_to_b64(value)}
    if isinstance(value, (list, tuple)):
        return [encode(v, keep) for v in value]
    if isinstance(value, dict):
        return {"__map__": [[encode(k, keep), encode(v, keep)] for k, v in value.items()]}
    if keep is not None:
        if hasattr(value, "numpy") and callable(value.numpy) and hasattr(value, "dtype"):
            try:  # a tf.Tensor or tf.Variable: send its value
                return encode(np.asarray(value.numpy()), keep)
            except Exception:
                pass
        return {"__ref__": keep(value), "type": type(value).__name__}
    raise TypeError(f"cannot send a {type(value).__name__} over the channel")


MAX_DEPTH = 32   # nesting of lists and dicts in one value: deeper is refused, never a RecursionError


def decode(data, tensor=None, lookup=None, depth=0):
    """Inverse of :func:`encode`. On the student side ``tensor`` turns arrays into tensors and ``lookup`` resolves
    refs; on the trusted side both are None, so arrays stay NumPy and refs stay :class:`Ref`."""
    if depth > MAX_DEPTH:
        raise ValueError(f"a value nested more than {MAX_DEPTH} levels deep")
    if isinstance(data, list):
        return [decode(v, tensor, lookup, depth + 1) for v in data]
    if not isinstance(data, dict):
        return data
    if "__nd__" in data:
        array = _b64_to_array(data["__nd__"])
        return tensor(array) if tensor is not None else array
    if "__np__" in data:
        return _b64_to_array(data["__np__"]["__nd__"])
    if "__rng__" in data:
        return np.random.default_rng(int(data["__rng__"]))
    if "__ref__" in data:
        return lookup(int(data["__ref__"])) if lookup is not None else Ref(data["__ref__"], data.get("type", "object"))
    if "__map__" in data:
        return {_hashable(decode(k, None, lookup, depth + 1)): decode(v, tensor, lookup, depth + 1)
                for k, v in data["__map__"]}
    raise ValueError(f"unknown tagged value with keys {sorted(data)[:3]}")


def _hashable(key):
    return tuple(key) if isinstance(key, list) else key


def dumps(message):
    return (json.dumps(message, separators=(",", ":")) + "\n").encode("utf-8")


def loads(line):
    """One message; ValueError for anything that is not one (bad UTF-8 or JSON, or nesting too deep to parse)."""
    try:
        return json.loads(line.decode("utf-8"))
    except RecursionError:
        raise ValueError("a message nested too deeply") from None
