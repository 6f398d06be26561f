"""The `samizdat` command: a thin layer over the library (design §7)."""

from .app import main

__all__ = ["main"]
