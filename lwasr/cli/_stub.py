"""A subcommand group that exists in the CLI but whose implementation has not landed yet."""

from __future__ import annotations

import typer


def planned_group(name: str, help_text: str, issue: int) -> typer.Typer:
    """A Typer group that shows its help but says plainly that it is not built yet, and exits 1."""
    group = typer.Typer(name=name, help=f"{help_text}\n\n[not built yet: tracked in issue #{issue}]")

    @group.callback(invoke_without_command=True)
    def _not_built() -> None:
        typer.secho(
            f"lwasr {name}: not implemented yet (tracked in issue #{issue}).", fg=typer.colors.YELLOW, err=True
        )
        raise typer.Exit(1)

    return group
