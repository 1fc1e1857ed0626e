"""The one decorator policy for Numba kernels.

``cache=True`` so a warm run loads machine code instead of compiling (the CLI must start fast);
``nogil=True`` so kernels do not serialise threads that call them; no ``parallel=True``: kernels
draw random numbers from the caller's ``numpy.random.Generator`` and must stay deterministic.
Decorating compiles nothing: compilation happens at a kernel's first call.
"""

from __future__ import annotations

from numba import njit

kernel = njit(cache=True, nogil=True)

#: Small helpers called from kernels inside hot loops: inlined into each caller at Numba's IR
#: level. A call between compiled functions pays an atomic reference-count update per array
#: argument, which measured as a large share of an event loop's time; inlined, it costs nothing.
#: Cached as part of the kernels that call them.
inline = njit(inline="always", nogil=True)
