"""Sampling helpers shared by the Monte Carlo simulators' kernel wrappers."""

from __future__ import annotations

import numpy as np

__all__ = ["cumulative"]


def cumulative(weights: np.ndarray) -> np.ndarray:
    """Normalised cumulative weights ending with exactly 1.0 (so a uniform draw in [0, 1)
    always picks a valid index)."""
    cum = np.cumsum(np.asarray(weights, dtype=np.float64))
    cum /= cum[-1]
    cum[-1] = 1.0
    return cum
