"""The P2SC messenger app (盾牌通信应用): ``dunpai comms app``.

The Python client runs on the user's machine and serves a web interface on 127.0.0.1 behind a
per-launch secret; keys and plaintext never leave that process except to the user's own browser
window. History is kept on the device, sealed by the key store.

Modules: ``model`` (conversations and messages, pure), ``history`` (the sealed on-device log),
``messenger`` (the client: connection, outbox, receipts, files, key changes), ``groups`` and
``trust`` (group management; safety numbers and QR verification),
``voice`` (push-to-talk and calls bridged to the browser's microphone and speaker), ``web``
(the local HTTP/WebSocket server and its guard), ``run`` (launch).
"""
