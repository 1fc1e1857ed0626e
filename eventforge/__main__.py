"""``python -m eventforge``: the same command line as the ``eventforge`` script."""

from eventforge.cli import entry

if __name__ == "__main__":
    entry()
