"""The ``dunpai`` command line: the top floor. Each command is its process's composition root
(settings from file, environment and flags; the objects it needs built from them). Library
packages never import from here.

Importing a module of this package (a demo, one command group) does not mount every command:
``main`` and ``app`` load :mod:`dunpai.cli.main` when first used.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """The ``dunpai`` console script."""
    from dunpai.cli.main import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from dunpai.cli.main import app

        return app
    raise AttributeError(name)


__all__ = ["app", "main"]
