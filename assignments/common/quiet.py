"""Start TensorFlow without the log lines that look like errors but are not.

On a machine without a GPU, TensorFlow prints C++ log lines when it starts ("Could not find cuda drivers",
"failed call to cuInit: CUDA error", "oneDNN custom operations are on", ...). They are harmless, but in a notebook
they appear in red under the set-up cell. ``TF_CPP_MIN_LOG_LEVEL=3`` hides those written after TensorFlow's logging
starts; a few are written while the library loads, before that setting is read, so the import itself runs with
the process's standard error set aside (and shown again if the import fails).

Call :func:`quiet_tensorflow` before anything imports TensorFlow; on a machine with a GPU it changes nothing but
the log lines.
"""
import os
import sys
import tempfile


def quiet_tensorflow():
    """Sets TF_CPP_MIN_LOG_LEVEL=3 and imports TensorFlow and Keras with the start-up log lines set aside."""
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no standard error to set aside
        import tensorflow, keras  # noqa: F401, E401
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401  (the C++ start-up lines go to `captured`)
            import keras  # noqa: F401
            failed = None
        except BaseException as err:  # shown below with whatever TensorFlow said
            failed = err
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if failed is not None:
            captured.seek(0)
            sys.stderr.write(captured.read().decode("utf-8", "replace"))
            raise failed
