"""The ``dunpai`` command line: the top floor. Each command is its process's composition root
(settings from file, environment and flags; the objects it needs built from them). Library
packages never import from here."""

from dunpai.cli.main import app, main

__all__ = ["app", "main"]
