"""The analyst console (server-rendered pages, Chinese and English): ``create_console``."""

from dunpai.web.app import create_console

__all__ = ["create_console"]
