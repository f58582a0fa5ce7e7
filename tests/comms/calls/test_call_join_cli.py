"""`dunpai comms call join` as real CLI processes: a group call of two members with relay tickets from
the service, each saying a WAV file and writing what the other said; a non-member is refused."""

from __future__ import annotations

import time
from pathlib import Path

from tests.comms.calls.call_helpers import voice_like
from tests.comms.calls.test_call_cli import background, cli, enrol, finish, runner, stack  # noqa: F401

from dunpai.cli.comms import app
from dunpai.comms.media import codec


def test_group_call_join_via_cli_processes(stack: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    url, db = stack
    homes = enrol(url, db, tmp_path, "alice", "bob", "mallory")
    cli("group", "create", "ops", "--home", homes["alice"])
    cli("group", "add", "ops", "bob", "--home", homes["alice"])
    says = {"alice": voice_like(1.5, 140, 31), "bob": voice_like(1.5, 210, 32)}
    procs = {}
    for u in ("alice", "bob"):
        codec.write_wav(tmp_path / f"{u}.wav", says[u])
        procs[u] = background("call", "join", "ops", "--call-id", "weekly", "--wav", str(tmp_path / f"{u}.wav"),
                              "--out-dir", str(tmp_path / f"heard-{u}"), "--seconds", "8", "--pace", "0.5",
                              "--expect", "alice", "--expect", "bob", "--home", homes[u])
        time.sleep(0.5)
    outs = {u: finish(p, timeout=90) for u, p in procs.items()}
    for u, other in (("alice", "bob"), ("bob", "alice")):
        assert "已接通 / connected weekly" in outs[u], outs[u]
        assert f"heard {other}" in outs[u] and "ended: hangup" in outs[u], outs[u]
        heard = codec.read_wav(tmp_path / f"heard-{u}" / f"{other}.wav")
        assert codec.similarity(says[other], heard) > 0.8, (u, other)
    # not a member of the group: the service refuses the ticket, nothing is joined
    r = runner.invoke(app, ["call", "join", "ops", "--seconds", "2", "--home", homes["mallory"]])
    assert r.exit_code == 2 and "not_found" in r.output, r.output
