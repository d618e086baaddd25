"""The messages students read: each names what to look at."""
import numpy as np
import pytest

from assignments.common.checklib import (CheckFailed, check_close, check_dtype, check_gradient, check_shape,
                                         numeric_gradient, rel_error, to_array)


def test_shape_message_names_both_shapes():
    with pytest.raises(CheckFailed, match=r"expected shape \(3, 4\), got \(4, 3\)"):
        check_shape(np.zeros((4, 3)), (3, 4), "H")


def test_close_names_first_mismatch_and_tolerance():
    expected = np.arange(6.0).reshape(2, 3)
    got = expected.copy()
    got[1, 2] += 1
    with pytest.raises(CheckFailed, match=r"first at index \(1, 2\): expected 5, got 6 .*tolerance"):
        check_close(got, expected, "O")
    assert check_close(expected + 1e-9, expected).shape == (2, 3)


@pytest.mark.parametrize("bad", [np.zeros((2, 2)), np.full((2, 2), np.nan)])
def test_zero_or_nan_gradients_never_pass(bad):
    with pytest.raises(CheckFailed, match="all zeros|NaN"):
        check_gradient(bad, np.ones((2, 2)))


def test_gradient_reports_relative_error():
    with pytest.raises(CheckFailed, match=r"relative error .* exceeds the tolerance 1e-07"):
        check_gradient(np.ones(3) * 1.001, np.ones(3))
    assert check_gradient(np.ones(3), np.ones(3)) == 0.0


def test_objects_cannot_vouch_for_themselves():
    class Liar:
        def __eq__(self, other):
            return True
    with pytest.raises(CheckFailed, match="numeric array"):
        to_array(Liar())


def test_dtype_check():
    check_dtype(np.zeros(2, np.float32), np.float32)
    with pytest.raises(CheckFailed, match="expected dtype float64 .* got float32"):
        check_dtype(np.zeros(2, np.float32), np.float64)


def test_numeric_gradient_of_a_known_function():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    upstream = np.array([[1.0, 2.0], [3.0, 4.0]])
    grad = numeric_gradient(lambda v: v ** 3, x.copy(), upstream)
    assert rel_error(grad, 3 * x ** 2 * upstream) < 1e-8
