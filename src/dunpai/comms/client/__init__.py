"""Client library (asyncio): connection, local sealed state, E2E messaging, groups and files."""

from dunpai.comms.client.client import CommsClient, Received

__all__ = ["CommsClient", "Received"]
