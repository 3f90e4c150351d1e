"""The ``friendli-edit`` and ``friendli-generate`` command lines, built on the client library."""

from .main import main


def generate_main(argv: list[str] | None = None) -> int:
    """``friendli-generate`` (cli/generate.py, imported when run so ``python -m …cli.generate`` works too)."""
    from .generate import main as generate

    return generate(argv)


__all__ = ["generate_main", "main"]
