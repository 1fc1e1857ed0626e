"""Discrete-event models: queueing networks simulated with SimPy (``queue_network``)."""
