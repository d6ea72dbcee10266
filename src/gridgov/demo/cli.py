"""`gridgov demo`: the Jinshui demo district."""

from __future__ import annotations

import typer

NAME = "demo"
app = typer.Typer(help="The Jinshui demo district (金水区).", no_args_is_help=True)
