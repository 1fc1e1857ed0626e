"""Plain-Python reference implementations of the Monte Carlo kernels.

Each function here computes what its namesake in :mod:`kernels` computes, written for clarity,
not speed; tests compare the two on the same seeds, and ``benchmarks/`` measures the speed-up.
"""

from __future__ import annotations

import numpy as np

# --- arrivals ------------------------------------------------------------------------------

# --- hawkes --------------------------------------------------------------------------------

# --- prices --------------------------------------------------------------------------------

# --- sensors -------------------------------------------------------------------------------
