"""Keyed online features (card, account, customer, terminal, device, payee, IP, employee)."""

from dunpai.core.native import drop_stale_extensions

drop_stale_extensions(__file__)
