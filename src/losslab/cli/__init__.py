"""The ``losslab`` command line (typer + rich)."""

from ._app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
