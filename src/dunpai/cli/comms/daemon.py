"""A private deployment's service process: ``python -m dunpai.cli.comms.daemon --dir DIR``, started in
the background by ``dunpai comms deploy``. Its composition root: the settings are the deployment's
``DIR/dunpai.yaml`` (then the environment), the service is :func:`dunpai.comms.deploy.daemon.serve`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from dunpai.cli.common import settings
from dunpai.comms.deploy.deployment_file import SETTINGS_FILE
from dunpai.comms.errors import DeployError


def main(directory: Annotated[Path, typer.Option("--dir", help="部署目录 / deployment directory")]) -> None:
    """运行私有部署的服务 / run a private deployment's service until SIGTERM."""
    from dunpai.comms.deploy.daemon import serve

    directory = directory.resolve()
    cfg = settings(directory / SETTINGS_FILE).comms.deployment
    if cfg is None:
        raise DeployError(f"no deployment in {directory}")
    asyncio.run(serve(directory, cfg))


if __name__ == "__main__":
    typer.run(main)
