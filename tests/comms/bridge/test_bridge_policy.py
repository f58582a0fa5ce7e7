"""The bridge policy: parsing fails fast naming the path; decisions refuse with the reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dunpai.comms.bridge.policy import PolicyError, load_policy, parse_policy
from dunpai.comms.errors import Forbidden

BASE: dict[str, Any] = {
    "version": 1,
    "deployments": ["private", "public"],
    "groups": {"ops": ["wang@private", "zhao@private"]},
    "limits": {"max_message_bytes": 1000, "max_file_bytes": 5000},
    "allow": [
        {"from": ["group:ops"], "to": ["li@public"], "services": ["message", "file"], "both_ways": True},
        {"from": ["*@private"], "to": ["duty@public"], "services": ["message"]},
        {"from": ["wang@private"], "to": ["li@public"], "services": ["ptt"]},
    ],
}


def test_decisions() -> None:
    p = parse_policy(BASE)
    p.check("wang@private", "li@public", "file", 5000)
    p.check("li@public", "zhao@private", "message", 10)  # both_ways
    p.check("eve@private", "duty@public", "message")  # wildcard
    assert p.allowed_services("wang@private", "li@public") == {"message", "file", "ptt"}
    with pytest.raises(Forbidden, match="does not allow eve@private to reach li@public"):
        p.check("eve@private", "li@public")
    with pytest.raises(Forbidden, match="does not allow duty@public"):
        p.check("duty@public", "eve@private")  # not both ways
    with pytest.raises(Forbidden, match="'call'"):
        p.check("wang@private", "li@public", "call")
    with pytest.raises(Forbidden, match="over the bridge's limit of 5000"):
        p.check("wang@private", "li@public", "file", 5001)
    with pytest.raises(Forbidden, match="over the bridge's limit of 1000"):
        p.check("wang@private", "li@public", "message", 1001)
    with pytest.raises(Forbidden, match="same deployment"):
        p.check("wang@private", "zhao@private")
    with pytest.raises(Forbidden, match="not connected"):
        p.check("wang@private", "li@elsewhere")
    with pytest.raises(Forbidden, match="user@deployment"):
        p.check("wang", "li@public")


@pytest.mark.parametrize(("change", "message"), [
    ({"colour": 1}, "colour: unknown key"),
    ({"version": 2}, "version"),
    ({"limits": {"max_size": 1}}, "limits.max_size: unknown key"),
    ({"limits": {"max_file_bytes": -1}}, "limits.max_file_bytes"),
    ({"allow": [{"from": ["group:nope"], "to": ["li@public"], "services": ["message"]}]}, "unknown group 'nope'"),
    ({"allow": [{"from": ["a@mars"], "to": ["li@public"], "services": ["message"]}]}, "unknown deployment 'mars'"),
    ({"allow": [{"from": ["a@private"], "to": ["li@public"], "services": ["fax"]}]}, r"allow\[0\].services"),
    ({"allow": [{"from": ["a@private"], "to": ["li@public"], "services": ["message"], "x": 1}]},
     r"allow\[0\].x: unknown key"),
    ({"groups": {"g": ["not an address"]}}, "groups.g"),
])
def test_invalid_policies_name_the_path(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy({**BASE, **change})


def test_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: 1\ndeployments: [a, b]\nallow:\n  - {from: [x@a], to: [y@b], services: [message]}\n")
    load_policy(path).check("x@a", "y@b", "message")
    path.write_text("version: [1\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(path)
