"""The one decorator policy for Numba kernels.

``cache=True`` so a warm run loads machine code instead of compiling (the CLI must start fast);
``nogil=True`` so kernels do not serialise threads that call them; no ``parallel=True``: kernels
draw random numbers from the caller's ``numpy.random.Generator`` and must stay deterministic.
Decorating compiles nothing: compilation happens at a kernel's first call.
"""

from __future__ import annotations

from numba import njit

kernel = njit(cache=True, nogil=True)
