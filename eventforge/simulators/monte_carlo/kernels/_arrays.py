"""Array helpers shared by the Monte Carlo kernels."""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel


@kernel
def grown(a: np.ndarray, size: int) -> np.ndarray:
    """A copy of ``a`` with room for ``size`` elements (the first ``len(a)`` kept)."""
    out = np.empty(size, dtype=a.dtype)
    out[: a.shape[0]] = a
    return out
