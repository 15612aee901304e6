"""`lwasr env`."""

import json

import typer


def env(as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON.")) -> None:
    """Print versions of torch/transformers/peft/lhotse, the devices seen, and where models and caches live."""
    from lwasr.envinfo import report

    info = report()
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for key, value in info.items():
        if isinstance(value, dict):
            typer.echo(f"{key}:")
            for k, v in value.items():
                typer.echo(f"  {k:<14} {v}")
        elif isinstance(value, list):
            typer.echo(f"{key}:")
            for v in value:
                typer.echo(f"  {v}")
        else:
            typer.echo(f"{key:<16} {value}")
