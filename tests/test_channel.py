"""The narrow channel: plain values only, and no student value can pose as a tagged form."""
import numpy as np
import pytest

from autograder.sandbox.inside import channel


def roundtrip(value, **kwargs):
    return channel.decode(channel.loads(channel.dumps(channel.encode(value, **kwargs))))


def test_arrays_keep_dtype_and_shape():
    for array in (np.arange(6, dtype=np.int32).reshape(2, 3), np.ones((2, 0, 3), np.float32), np.float64(2.5),
                  np.array(1.5), np.arange(12.0).reshape(3, 4).T):  # a 0-d array, a non-contiguous one
        back = roundtrip(array)
        assert np.asarray(back).dtype == np.asarray(array).dtype and np.array_equal(back, array)
        assert np.shape(back) == np.shape(array)


def test_nested_values():
    value = {"loss": [1.0, 0.5], "ids": (np.zeros(2, np.int32), "text"), 3: None}
    back = roundtrip(value)
    assert back["loss"] == [1.0, 0.5] and back["ids"][1] == "text" and back[3] is None


def test_object_arrays_are_refused():
    with pytest.raises(TypeError):
        channel.encode(np.array([object()], dtype=object))


def test_unknown_objects_stay_behind_as_handles():
    kept = []
    data = channel.encode(object(), keep=lambda obj: kept.append(obj) or len(kept))
    back = channel.decode(data)
    assert isinstance(back, channel.Ref) and back.ref == 1 and kept


def test_a_students_dict_cannot_pose_as_a_tagged_form():
    sneaky = {"__nd__": "not an array"}
    assert roundtrip(sneaky) == sneaky


def test_markers_arrive_as_numpy_and_rng():
    args = channel.decode(channel.encode([channel.numpy_arg(np.ones(2)), channel.rng_arg(3)]),
                          tensor=lambda a: ("tensor", a))
    assert isinstance(args[0], np.ndarray)
    assert args[1].integers(1000) == np.random.default_rng(3).integers(1000)
