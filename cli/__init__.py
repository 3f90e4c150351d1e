"""The ``friendli-edit`` command line, built on the client library."""

from .main import main

__all__ = ["main"]
