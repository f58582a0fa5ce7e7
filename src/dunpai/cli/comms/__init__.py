"""``dunpai comms``: run the service, enrol devices, verify contacts, send and receive, groups,
files, push-to-talk, calls, a private deployment, the bridge, and the demos."""

from __future__ import annotations

from dunpai.cli.common import new_app
from dunpai.cli.comms import demos, device, service, talk
from dunpai.comms.app.command import app as messenger_app

app = new_app("P2SC 端到端加密通信 / P2SC end-to-end encrypted communication")

for _name, _command in (("serve", service.serve), ("invite", service.invite), ("register", device.register),
                        ("verify", device.verify), ("send", device.send), ("receive", device.receive),
                        ("send-file", device.send_file), ("fetch-file", device.fetch_file),
                        ("revoke", device.revoke), ("demo", demos.demo), ("tui", device.tui),
                        ("deploy", service.deploy), ("stop", service.stop), ("bridge", service.bridge),
                        ("relay", service.relay), ("demo-ptt", demos.demo_ptt), ("app", messenger_app)):
    app.command(_name)(_command)
app.add_typer(device.group_app, name="group")
app.add_typer(talk.ptt_app, name="ptt")
app.add_typer(talk.call_app, name="call")

__all__ = ["app"]
