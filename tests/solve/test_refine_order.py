"""Which candidates the refinement stages take (pxrdsolve.solve.refine_order)."""

from __future__ import annotations

import numpy as np

from pxrdsolve.solve import refine_order


def test_distinct_first_puts_the_best_of_each_structure_type_first(monkeypatch):
    """Later stages take the first few of this order: three copies of one type (scores 1, 2, 3) and the best of
    two further types (4, 6) give type A's best, then B's, then C's, then the other copies by score."""
    monkeypatch.setattr(refine_order, "structure_type_key", lambda t: t)  # these "templates" are their type keys
    types = ["A", "A", "B", "A", "C", "B"]
    score = np.array([1.0, 2.0, 4.0, 3.0, 6.0, 5.0])
    assert refine_order.distinct_first(types, [0, 1, 2, 3, 4, 5], score) == [0, 2, 4, 1, 3, 5]
    assert refine_order.distinct_first(types, [3, 5, 1], score) == [1, 5, 3]
