"""Numba kernels of the Monte Carlo family.

Pure functions over contiguous arrays and scalars; random numbers come from the caller's
``numpy.random.Generator`` (Numba advances its state), so a kernel and its plain reference in
:mod:`eventforge.simulators.monte_carlo.reference` draw the same numbers in the same order.
Each kernel is called only by the thin typed wrapper in its simulator module.

One module per model, so that Numba's on-disk cache of one model's kernels survives an edit to
another's; this package re-exports them all.
"""

from eventforge.simulators.monte_carlo.kernels.arrivals import arrivals_events
from eventforge.simulators.monte_carlo.kernels.hawkes import hawkes_clusters
from eventforge.simulators.monte_carlo.kernels.prices import prices_regimes, prices_ticks
from eventforge.simulators.monte_carlo.kernels.sensors import sensors_block

__all__ = [
    "arrivals_events",
    "hawkes_clusters",
    "prices_regimes",
    "prices_ticks",
    "sensors_block",
]
