"""The reference run on the trusted side, through the assignment's own harness: a stand-in for ``student.call``.

A suite uses it where a threshold alone cannot tell a correct submission from a wrong one on every hidden problem
(Assignment 3's trained perplexity: on a hard problem the reference itself leaves more of the gap open), and the
calibrations in ``bench/`` use it to run references and catalogued bugs in process. Values cross the same channel
encoding as between the grader and the sandbox, so a function sees what it would see there."""
import keras
import numpy as np
import tensorflow as tf

from autograder import project
from autograder.sandbox.inside import channel


def harness_namespace(assignment, reference, **replacements):
    """What the sandbox holds after a submission's cells ran: the set-up's imports, the reference's answers
    (``replacements`` stand in for some of them, as a student's would), then the assignment's harness."""
    namespace = {"np": np, "tf": tf, "keras": keras}
    namespace.update({name: value for name, value in vars(reference).items() if not name.startswith("__")})
    namespace.update(replacements)
    with open(project.harness(assignment), encoding="utf-8") as f:
        exec(compile(f.read(), f"harness_{assignment}.py", "exec"), namespace)
    return namespace


def caller(namespace):
    """``call(name, *args, **kwargs)`` of ``namespace``'s functions, as ``student.call`` calls the sandbox's."""
    objects = {}

    def keep(obj):
        objects[len(objects) + 1] = obj
        return len(objects)

    def call(name, *args, timeout=None, **kwargs):
        args = channel.decode(channel.encode(list(args)), tf.constant, objects.__getitem__)
        kwargs = channel.decode(channel.encode(kwargs), tf.constant, objects.__getitem__) if kwargs else {}
        return channel.decode(channel.encode(namespace[name](*args, **kwargs), keep=keep))
    return call
