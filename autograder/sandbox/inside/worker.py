"""The untrusted side: runs a student's answer cells and answers calls from the grader.

Started by :mod:`autograder.trusted.student` inside the sandbox as ``python -I worker.py``. It reads one JSON request
per line on stdin and writes one JSON reply per line on the channel (the original stdout; the student's prints go
to stderr). It computes no verdict: it only runs student code on inputs the grader chose and sends back values.

Requests (each with an ``"id"``, which its reply carries back):
    {"op": "load", "cells": [{"grade_id", "source", "kind"}...], "threads": 2}
        -> {"ok", "cells": [{"grade_id", "error"}]}
    {"op": "call", "fn": name, "args": [...], "kwargs": {...}, "reference": {name: {"magic", "code"}}}
        -> {"ok": true, "value": ...} | {"ok": false, "error": "..."}

Two namespaces: the student's (set-up and answer cells) and the harness's (the grader's wiring functions, named
``_...``), a copy of the student's taken after the answer cells ran, so that student code cannot replace a harness
function by assigning a global. ``reference`` puts the reference implementation of earlier items in place of the
student's for the length of one call, so that a bug in an earlier item costs points only there; it arrives
compiled on the trusted side (``marshal`` of the code, without docstrings), so that no reference source text, nor
any of its docstrings, is ever in this process.

Every call is observed the same way: before the first cell runs, the entry points of :data:`OBSERVED`
(TensorFlow's automatic differentiation, Keras's recurrent cells and layers) are wrapped for good, and each call's
reply lists those that ran while it did (``"observed"``). No call can be told from another by what watches it,
so code that behaves differently when watched does so in the calls whose values are checked too. The observation
is made in the student's process and can be forged there (the wrappers and this worker are reachable from student
code): the grader uses it only to take points away, never to award them.
"""
import base64
import contextlib
import functools
import importlib
import importlib.util
import linecache
import marshal
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import channel  # noqa: E402  (beside this file, in the sandbox too)

MAX_ERROR_CHARS = 2000
# (module, class or None, attribute, label): what every call reports having run
OBSERVED = (("tensorflow.python.eager.imperative_grad", None, "imperative_grad", "tf.GradientTape (gradient, jacobian)"),
            ("tensorflow.python.ops.gradients_util", None, "_GradientsHelper", "tf.gradients"),
            ("tensorflow.python.eager.forwardprop", "ForwardAccumulator", "__enter__",
             "tf.autodiff.ForwardAccumulator"),
            *(("keras.layers", name, "call", f"keras.layers.{name}")
              for name in ("SimpleRNNCell", "GRUCell", "LSTMCell", "SimpleRNN", "GRU", "LSTM")))


def _student_traceback(err):
    """The part of a traceback that lies in the student's cells: what the student can act on."""
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if f.filename.startswith("<cell ") and f.filename != "<cell harness>"]
    lines = [f"  {f.filename[1:-1]}, line {f.lineno}: {(f.line or '').strip()}" for f in frames[-3:]]
    message = f"{type(err).__name__}: {err}"
    return ("\n".join(lines + [message]))[-MAX_ERROR_CHARS:]


class Worker:
    def __init__(self, channel_out):
        self.out = channel_out
        self.namespace = {"__name__": "__main__"}
        self.harness = {}
        self.objects = {}
        self.observed = set()   # labels of OBSERVED entry points that ran during the current call
        self.observing = False

    def observe(self):
        """Wraps every entry point of :data:`OBSERVED` for the life of this process (before any student code)."""
        if self.observing:
            return
        self.observing = True
        for module, owner, attribute, label in OBSERVED:
            try:
                target = importlib.import_module(module)
                target = getattr(target, owner) if owner else target
                original = getattr(target, attribute)
            except (ImportError, AttributeError):
                continue

            @functools.wraps(original)  # keeps the signature Keras inspects (training=, mask=)
            def wrapper(*args, _original=original, _label=label, _seen=self.observed, **kwargs):
                _seen.add(_label)
                return _original(*args, **kwargs)
            setattr(target, attribute, wrapper)

    def observations(self):
        """What the current call has run of :data:`OBSERVED` so far (the harness's view of the same record)."""
        return sorted(self.observed)

    def keep(self, obj):
        ref = len(self.objects) + 1
        self.objects[ref] = obj
        return ref

    def lookup(self, ref):
        if ref not in self.objects:
            raise KeyError(f"unknown object handle {ref}")
        return self.objects[ref]

    def reply(self, message, request_id):
        message["id"] = request_id
        try:
            data = channel.dumps(message)
        except (TypeError, ValueError) as err:
            data = channel.dumps({"ok": False, "error": f"the value could not be sent back: {err}",
                                  "id": request_id})
        self.out.write(data)
        self.out.flush()

    def load(self, cells, threads):
        import tensorflow as tf  # the notebooks' set-up cells import it anyway; threads must be set first
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        self.observe()
        results = []
        for cell in cells:
            if cell.get("kind") == "harness":
                self.harness = dict(self.namespace)
                self.harness["__name__"] = "harness"
                self.harness["_observed"] = self.observations
            namespace = self.harness if cell.get("kind") == "harness" else self.namespace
            results.append({"grade_id": cell["grade_id"], "error": self.run_cell(cell, namespace)})
        return {"ok": True, "cells": results}

    @staticmethod
    def run_cell(cell, namespace):
        """Runs one cell; returns the student-facing traceback of what it raised, or None."""
        filename = f"<cell {cell['grade_id']}>"
        # so that tracebacks can quote the student's line
        linecache.cache[filename] = (len(cell["source"]), None, cell["source"].splitlines(True), filename)
        try:
            exec(compile(cell["source"], filename, "exec"), namespace)
        except BaseException as err:  # SystemExit and KeyboardInterrupt too: a cell never stops the worker
            return _student_traceback(err)
        return None

    def call(self, name, args, kwargs, reference=None):
        import tensorflow as tf
        fn = (self.harness if name.startswith("_") else self.namespace).get(name)
        if fn is None:
            return {"ok": False, "error": f"NameError: '{name}' is not defined"}
        self.observed.clear()
        try:
            args = channel.decode(args, tf.constant, self.lookup)
            kwargs = channel.decode(kwargs, tf.constant, self.lookup) if kwargs else {}
            with self.references(reference or {}):
                value = fn(*args, **kwargs)
            reply = {"ok": True, "value": channel.encode(value, keep=self.keep)}
        except BaseException as err:
            reply = {"ok": False, "error": _student_traceback(err)}
        reply["observed"] = self.observations()
        return reply

    @contextlib.contextmanager
    def references(self, codes):
        """For one call, the reference definitions of ``codes`` (name -> {"magic", "code": base64 of the marshalled
        code object the trusted side compiled}) replace the student's, in both namespaces; the student's come back
        afterwards."""
        if not codes:
            yield
            return
        defined = dict(self.namespace)
        for name, packed in codes.items():
            if packed.get("magic") != importlib.util.MAGIC_NUMBER.hex():
                raise RuntimeError("the grader and the sandbox run different Python versions")
            exec(marshal.loads(base64.b64decode(packed["code"])), defined)
        sources = codes
        saved = [(ns, name, ns.get(name)) for ns in (self.namespace, self.harness) for name in sources]
        for ns, name, _ in saved:
            ns[name] = defined[name]
        try:
            yield
        finally:
            for ns, name, old in saved:
                if old is None:
                    ns.pop(name, None)
                else:
                    ns[name] = old

    def serve(self, requests):
        for line in requests:
            try:
                request = channel.loads(line)
            except ValueError:
                self.reply({"ok": False, "error": "malformed request"}, None)
                continue
            del line
            request_id = request.pop("id", None)
            if request.get("op") == "load":
                self.reply(self.load(request["cells"], int(request.get("threads", 1))), request_id)
            elif request.get("op") == "call":
                self.reply(self.call(request["fn"], request.get("args", []), request.get("kwargs", {}),
                                     request.get("reference")), request_id)
            else:
                self.reply({"ok": False, "error": f"unknown op {request.get('op')!r}"}, request_id)


def main():
    # Keep the channel's two ends private and point fd 0 and 1 elsewhere, so that what the student prints or
    # reads cannot garble the protocol.
    requests = os.fdopen(os.dup(0), "rb")
    replies = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.path.insert(0, os.getcwd())  # the released helpers (checklib.py, data loaders) beside the notebook
    Worker(replies).serve(requests)


if __name__ == "__main__":
    main()
