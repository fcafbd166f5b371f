"""`python -m dupgate.cli`: the `dupgate` command."""

from dupgate.cli.main import app

app()
