"""eventforge: synthetic event logs by simulation."""

__version__ = "0.1.0"
