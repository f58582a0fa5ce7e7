"""``python -m dunpai.comms.app`` — the same command as ``dunpai comms app`` (lighter start, no CLI imports)."""

import typer

from dunpai.comms.app.command import app

if __name__ == "__main__":
    typer.run(app)
