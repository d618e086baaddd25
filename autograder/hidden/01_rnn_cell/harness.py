"""Runs inside the student's sandbox after their answer cells (Assignment 1). No verdicts here: it only wires the
student's RNNCell into keras.layers.RNN with weights the grader chose and sends back what comes out."""


def _rnncell_layer(units, input_dim):
    cell = RNNCell(int(units))
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    layer.build((None, None, int(input_dim)))
    return cell, layer


def _rnncell_describe(units, input_dim):
    cell, _ = _rnncell_layer(units, input_dim)
    return {"state_size": cell.state_size, "output_size": cell.output_size,
            "weights": [[w.name, [int(s) for s in w.shape]] for w in cell.weights]}


def _rnncell_run(X, kernel, recurrent_kernel, bias):
    cell, layer = _rnncell_layer(kernel.shape[1], kernel.shape[0])
    by_name = {w.name: w for w in cell.weights}
    for name, value in (("kernel", kernel), ("recurrent_kernel", recurrent_kernel), ("bias", bias)):
        if name not in by_name:
            raise ValueError(f"RNNCell has no weight named '{name}' (its weights: {sorted(by_name)})")
        by_name[name].assign(value)
    sequence, state = layer(X)
    return sequence, state


def _rnncell_fresh(units, input_dim):
    """What a freshly built RNNCell looks like: initial weights, config round trip, dtype handling."""
    keras.utils.set_random_seed(0)
    cell, _ = _rnncell_layer(units, input_dim)
    config = cell.get_config()
    clone = type(cell).from_config(config)
    wide = RNNCell(int(units), dtype="float64")
    keras.layers.RNN(wide).build((None, None, int(input_dim)))
    return {"weights": {w.name: w.numpy() for w in cell.weights}, "config_units": config.get("units"),
            "clone_units": getattr(clone, "units", None), "float64_weights": [str(w.dtype) for w in wide.weights]}
