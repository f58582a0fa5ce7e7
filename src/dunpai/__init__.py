"""Dunpai (盾牌): bank risk control and P2SC secure communication."""

__version__ = "0.1.0"
