"""The pack's version, shared by packaging, the User-Agent and the registry table."""

__version__ = "0.1.0"
