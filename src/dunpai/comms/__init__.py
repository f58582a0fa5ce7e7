"""P2SC secure communication: end-to-end encrypted messaging, groups and files.

Layout: ``protocol`` (wire frames, E2E sessions, attachments, metadata hygiene), ``server`` (the
service: accounts, devices, key directory, store-and-forward, groups, blobs), ``client`` (asyncio
client library, local sealed state), ``cli`` (``dunpai comms``) and ``tui`` (terminal client).
The service only ever handles ciphertext; see ``docs/comms-protocol.md``.
"""
