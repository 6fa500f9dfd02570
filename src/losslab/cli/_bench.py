"""``losslab bench`` (being written)."""

import typer


def register_commands(app: typer.Typer) -> None:
    return None
