"""Numba kernels of the Monte Carlo family.

Pure functions over contiguous arrays and scalars; random numbers come from the caller's
``numpy.random.Generator`` (Numba advances its state), so a kernel and its plain reference in
:mod:`eventforge.simulators.monte_carlo.reference` draw the same numbers in the same order.
Each kernel is called only by the thin typed wrapper in its simulator module.
"""

from __future__ import annotations

import numpy as np

from eventforge._numba import kernel

# --- arrivals ------------------------------------------------------------------------------

# --- hawkes --------------------------------------------------------------------------------

# --- prices --------------------------------------------------------------------------------

# --- sensors -------------------------------------------------------------------------------
