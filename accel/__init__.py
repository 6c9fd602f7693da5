"""Open toolkit for sparse neural-network accelerators."""

__version__ = "0.1.0"
