import numpy as np
import pytest

from compress.schedules import BitSchedule, fit_parameters

# The three bit lists of the thesis' Fig. 2 (ch. 3): two 8-layer VGG11s and a 20-layer ResNet.
FIG2 = ([8, 7, 6, 6, 6, 6, 5, 3], [8, 3, 2, 4, 6, 8, 7, 2],
        [1, 1, 1, 2, 3, 4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 2, 2, 2, 2, 2])


def test_the_thesis_formulas_at_hand_computed_points():
    # Linear Bezier (0.5, w1) is the thesis' Fig. 4 example g(t) = 0.5 + t (w1 - 0.5): with w1 = 1 at t = 1/2, p = 0.75
    # and 8 p + 1 = 7 bits; at t = 1, p = 1 -> 9, clamped to 8.
    assert BitSchedule("bezier", 1).bits([0.5, 1.0], 2) == [7, 8]
    # Modified Chebyshev of order 3 at x = 2t - 1: T0 = 1, T1 = x, T2 = 2x^2 - 1; with w = (1, 0.5, 0.5) p = 0.75
    # everywhere (only the constant term moves), 7 bits; with w = (0.5, 1, 0.5) p = (0.5 x + 1) / 2.
    assert BitSchedule("chebyshev", 3).bits([1.0, 0.5, 0.5], 4) == [7, 7, 7, 7]
    p = BitSchedule("chebyshev", 3).curve([0.5, 1.0, 0.5], np.array([0.0, 0.5, 1.0]))
    assert np.allclose(p, [0.25, 0.5, 0.75])
    # Quadratic Bezier at t = 1/2 weighs its control points 1/4, 1/2, 1/4.
    assert np.isclose(BitSchedule("bezier", 2).curve([0.0, 1.0, 0.0], np.array([0.5]))[0], 0.5)


@pytest.mark.parametrize("schedule", [BitSchedule("bezier", 2), BitSchedule("bezier", 4), BitSchedule("chebyshev", 4),
                                      BitSchedule("chebyshev", 6)])
def test_a_schedule_round_trips_through_its_parameters(schedule):
    rng = np.random.default_rng(0)
    for layers in (1, 5, 13, 40):
        for _ in range(20):
            bits = schedule.bits(rng.uniform(0, 1, schedule.parameters), layers)
            assert all(1 <= b <= 8 for b in bits)
            w = fit_parameters(schedule, bits)
            assert w is not None and schedule.bits(w, layers) == bits


def test_the_fig2_bit_lists_come_from_order_4_chebyshev_series_in_a_wider_box():
    """The thesis draws its Fig. 2 examples from modified Chebyshev series; with every parameter in [0, 1] as its
    text defines them, order 4 reaches none of the three lists, so the figure's parameters were outside that box."""
    narrow, wide = BitSchedule("chebyshev", 4), BitSchedule("chebyshev", 4, box=(-1.5, 1.5))
    for bits in FIG2:
        assert fit_parameters(narrow, bits) is None
        w = fit_parameters(wide, bits)
        assert w is not None and wide.bits(w, len(bits)) == bits


def test_impossible_lists_and_bad_parameters_are_refused():
    assert fit_parameters(BitSchedule("bezier", 1), [1, 8, 1]) is None  # a straight line cannot go up and down
    with pytest.raises(ValueError, match="takes 3 parameters"):
        BitSchedule("bezier", 2).bits([0.5, 0.5], 4)
    with pytest.raises(ValueError, match=r"must lie in \[0.0, 1.0\]"):
        BitSchedule("chebyshev", 2).bits([0.5, 1.5], 4)
    with pytest.raises(ValueError, match="unknown schedule family"):
        BitSchedule("spline", 2)
    with pytest.raises(ValueError, match="bits must be 1..8"):
        fit_parameters(BitSchedule("bezier", 2), [0, 3])
