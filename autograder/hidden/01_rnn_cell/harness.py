"""Runs inside the student's sandbox after their answer cells (Assignment 1). No verdicts here: it only runs the
student's code on values the grader chose and reports values and weights; every judgement is made on the trusted
side. Which TensorFlow or Keras entry points ran is observed by the worker on every call alike (worker.OBSERVED),
not here: a harness function is not a call that student code could recognise by a spy of its own. (Autodiff is
asked for as ``student.call("_autodiff_calls", fn, ...)``, which the trusted side turns into a plain call; the
spies below serve the in-process stand-in of bench/calibration.py only.)"""


# -- in process only ------------------------------------------------------------------------------------------
# bench/calibration.py's in-process stand-in for the student process has no worker: these spies stand in for the
# worker's observation there. In the sandbox neither runs: the trusted side turns ``_autodiff_calls`` into a plain
# call (autograder/trusted/student.py), and ``_observed`` is the worker's.
def _spy(patches):
    """Replaces ``owner.attr`` by a recording wrapper for each ``(owner, attr, label)``; returns (calls, undo)."""
    import functools
    calls, saved = [], []
    for owner, attr, label in patches:
        original = getattr(owner, attr)

        @functools.wraps(original)
        def wrapper(*args, _original=original, _label=label, **kwargs):
            calls.append(_label)
            return _original(*args, **kwargs)
        saved.append((owner, attr, original))
        setattr(owner, attr, wrapper)

    def undo():
        for owner, attr, original in reversed(saved):
            setattr(owner, attr, original)
    return calls, undo


def _autodiff_calls(name, *args):
    """In process: runs ``name(*args)`` and lists TensorFlow's automatic-differentiation entry points that ran."""
    from tensorflow.python.eager import forwardprop, imperative_grad
    from tensorflow.python.ops import gradients_util
    calls, undo = _spy([(imperative_grad, "imperative_grad", "tf.GradientTape (gradient, jacobian)"),
                        (gradients_util, "_GradientsHelper", "tf.gradients"),
                        (forwardprop.ForwardAccumulator, "__enter__", "tf.autodiff.ForwardAccumulator")])
    try:
        globals()[name](*args)
    finally:
        undo()
    return sorted(set(calls))


def _keras_cells_run(run):
    """``run()``, and the Keras recurrent cells and layers that ran meanwhile: the worker's observation in the
    sandbox, a spy of the same entry points in process."""
    if "_observed" in globals():
        run()
        return [label for label in _observed() if label.startswith("keras.")]
    names = ("SimpleRNNCell", "GRUCell", "LSTMCell", "SimpleRNN", "GRU", "LSTM")
    calls, undo = _spy([(getattr(keras.layers, n), "call", f"keras.layers.{n}") for n in names
                        if hasattr(keras.layers, n)])
    try:
        run()
    finally:
        undo()
    return sorted(set(calls))


# -- what the suite calls --------------------------------------------------------------------------------------
def _returned_type(name, *args):
    """The type of what the student's ``name(*args)`` returns: [is it a TensorFlow tensor, its type's name] (the
    channel carries tensors and arrays alike, so only this tells them apart)."""
    value = globals()[name](*args)
    return [bool(tf.is_tensor(value)), type(value).__name__]


def _rnncell_layer(units, input_dim, **kwargs):
    cell = RNNCell(int(units), **kwargs)
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True, **kwargs)
    layer.build((None, None, int(input_dim)))
    return cell, layer


def _rnncell_describe(units, input_dim):
    """The built cell's sizes and weights, and which Keras recurrent cells ran while it processed a sequence (the
    worker's observation of this call, the same as of every other call: see worker.OBSERVED)."""
    cell, layer = _rnncell_layer(units, input_dim)
    ran = _keras_cells_run(lambda: layer(tf.zeros((2, 3, int(input_dim)))))
    return {"state_size": cell.state_size, "output_size": getattr(cell, "output_size", "missing"),
            "weights": [[w.name, [int(s) for s in w.shape]] for w in cell.weights],
            "keras_cells_run": ran}


def _rnncell_run(X, kernel, recurrent_kernel, bias):
    """keras.layers.RNN(RNNCell) on X with the given weights, in X's dtype: (sequence, final state)."""
    dtype = X.dtype.name
    cell, layer = _rnncell_layer(kernel.shape[1], kernel.shape[0], dtype=dtype)
    by_name = {w.name: w for w in cell.weights}
    for name, value in (("kernel", kernel), ("recurrent_kernel", recurrent_kernel), ("bias", bias)):
        if name not in by_name:
            raise ValueError(f"RNNCell has no weight named '{name}' (its weights: {sorted(by_name)})")
        by_name[name].assign(value)
    sequence, state = layer(X)
    return sequence, state


def _rnncell_step(inputs, h_prev, kernel, recurrent_kernel, bias):
    """One direct call of the cell, with the state given once as a list and once as a tuple."""
    cell = RNNCell(int(kernel.shape[1]), dtype=inputs.dtype.name)
    cell.build(tuple(inputs.shape))
    by_name = {w.name: w for w in cell.weights}
    for name, value in (("kernel", kernel), ("recurrent_kernel", recurrent_kernel), ("bias", bias)):
        by_name[name].assign(value)
    replies = {}
    for kind, states in (("list", [h_prev]), ("tuple", (h_prev,))):
        output, new_states = cell(inputs, states)
        if isinstance(new_states, (list, tuple)):
            replies[kind] = {"output": output, "states": list(new_states), "bare": False}
        else:  # a bare tensor: Keras's RNN accepts it for a single state, the docstring's contract does not
            replies[kind] = {"output": output, "states": [new_states], "bare": True}
    return replies


def _rnncell_fresh(units, input_dim, seed):
    """What a freshly built RNNCell looks like: initial weights, config round trip, name and dtype handling."""
    keras.utils.set_random_seed(int(seed) % 2**31)
    cell, _ = _rnncell_layer(units, input_dim)
    config = cell.get_config()
    clone = type(cell).from_config(config)
    named = RNNCell(int(units), name="probe_cell")
    wide = RNNCell(int(units), dtype="float64")
    keras.layers.RNN(wide).build((None, None, int(input_dim)))
    return {"weights": {w.name: w.numpy() for w in cell.weights},
            "config_units": config.get("units"), "config_name": config.get("name"),
            "clone_units": getattr(clone, "units", None), "clone_name": clone.name, "name": cell.name,
            "clone_dtype": str(getattr(clone, "dtype", None)), "dtype": str(cell.dtype),
            "named": named.name, "float64_weights": [str(w.dtype) for w in wide.weights]}
