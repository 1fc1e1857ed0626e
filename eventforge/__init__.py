"""eventforge: synthetic event logs by simulation."""

from eventforge._version import __version__

__all__ = ["__version__"]
