"""Agent-based models: Mesa models whose hot per-step loops run as Numba kernels over arrays
the model owns."""
