"""The bridge's crossing policy (pure): who may reach whom across deployments, with which services,
up to which sizes. Loaded from YAML, validated once, frozen; anything not allowed is refused.

```yaml
version: 1
deployments: [private, public]
groups:
  ops: [wang@private, zhao@private]
limits: {max_message_bytes: 65536, max_file_bytes: 10485760}
allow:
  - from: [group:ops]            # user@deployment, group:<name>, or *@deployment
    to: [li@public]
    services: [message, file]    # message | file | call | ptt
    both_ways: true
spanning_groups:                 # talk-groups / messaging groups with members on several deployments
  convoy:
    members: [wang@private, zhao@private, li@public]
    services: [message, ptt]     # message (Megolm group messages) | file | ptt | call (group call);
                                 # ptt and call need message (the media key is a group message)
    floor: private               # the deployment whose media relay is the floor server (single authority)
    priorities: {wang@private: 5}  # floor priority per member (default 1)
```

A spanning group's members may reach each other through the bridge for the group's services
(they need no ``allow`` rule for that); no one else may use the group.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from dunpai.comms.errors import CommsError, Forbidden

Service = Literal["message", "file", "call", "ptt"]
SERVICES: tuple[Service, ...] = get_args(Service)
_USER = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
_DEP = r"[a-z0-9][a-z0-9-]{0,31}"
_ADDRESS = re.compile(rf"^({_USER})@({_DEP})$")
_GROUP = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_PATTERN = re.compile(rf"^(?:({_USER}|\*)@({_DEP})|group:([A-Za-z0-9_.\-]{{1,64}}))$")


class PolicyError(CommsError):
    code = "policy_invalid"


def split_address(address: str) -> tuple[str, str]:
    """``user@deployment`` -> (user, deployment); raises ``Forbidden`` for anything else."""
    m = _ADDRESS.match(address)
    if m is None:
        raise Forbidden(f"{address!r} is not a user@deployment address")
    return m.group(1), m.group(2)


@dataclass(frozen=True)
class Rule:
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    services: frozenset[str]
    both_ways: bool


@dataclass(frozen=True)
class Limits:
    max_message_bytes: int = 64 * 1024
    max_file_bytes: int = 10 * 1024 * 1024


@dataclass(frozen=True)
class SpanningGroup:
    name: str
    members: tuple[str, ...]            # sorted user@deployment addresses
    services: frozenset[str]
    floor: str                          # deployment whose relay is the floor server / call host
    priorities: dict[str, int] = field(default_factory=dict)

    def priority(self, address: str) -> int:
        return self.priorities.get(address, 1)


@dataclass(frozen=True)
class BridgePolicy:
    deployments: frozenset[str]
    groups: dict[str, frozenset[str]]
    rules: tuple[Rule, ...]
    limits: Limits
    spanning: dict[str, SpanningGroup] = field(default_factory=dict)

    def member_group(self, name: str, member: str) -> SpanningGroup:
        group = self.spanning.get(name)
        if group is None:
            raise Forbidden(f"the bridge has no spanning group {name!r}")
        if member not in group.members:
            raise Forbidden(f"{member} is not a member of spanning group {name!r}")
        return group

    def check_group(self, name: str, sender: str, service: str, size: int = 0,
                    recipient: str | None = None) -> SpanningGroup:
        """The spanning group ``name`` if ``sender`` (and ``recipient``) are members and the group
        allows ``service`` (within the size limit); raises ``Forbidden`` with the reason otherwise."""
        group = self.member_group(name, sender)
        if recipient is not None and recipient not in group.members:
            raise Forbidden(f"{recipient} is not a member of spanning group {name!r}")
        if service not in group.services:
            raise Forbidden(f"spanning group {name!r} does not allow {service!r}")
        limit = self.limits.max_file_bytes if service == "file" else self.limits.max_message_bytes
        if size > limit:
            raise Forbidden(f"{service} of {size} bytes is over the bridge's limit of {limit}")
        return group

    def _matches(self, pattern: str, address: str) -> bool:
        if pattern.startswith("group:"):
            return address in self.groups.get(pattern[6:], frozenset())
        user, dep = pattern.split("@", 1)
        return pattern == address or (user == "*" and address.endswith("@" + dep))

    def _rule_allows(self, rule: Rule, sender: str, recipient: str) -> bool:
        forward = any(self._matches(p, sender) for p in rule.sources) and \
            any(self._matches(p, recipient) for p in rule.targets)
        backward = rule.both_ways and any(self._matches(p, recipient) for p in rule.sources) and \
            any(self._matches(p, sender) for p in rule.targets)
        return forward or backward

    def allowed_services(self, sender: str, recipient: str) -> frozenset[str]:
        out: set[str] = set()
        for rule in self.rules:
            if self._rule_allows(rule, sender, recipient):
                out |= rule.services
        return frozenset(out)

    def check(self, sender: str, recipient: str, service: str | None = None, size: int = 0) -> None:
        """Raise ``Forbidden`` with the reason unless ``sender`` may use ``service`` (any service when
        None) towards ``recipient`` with ``size`` bytes."""
        _, sdep = split_address(sender)
        _, rdep = split_address(recipient)
        for dep in (sdep, rdep):
            if dep not in self.deployments:
                raise Forbidden(f"deployment {dep!r} is not connected to this bridge")
        if sdep == rdep:
            raise Forbidden("both users are in the same deployment; the bridge only crosses between deployments")
        services = self.allowed_services(sender, recipient)
        if not services:
            raise Forbidden(f"the bridge policy does not allow {sender} to reach {recipient}")
        if service is not None and service not in services:
            raise Forbidden(f"the bridge policy does not allow {service!r} from {sender} to {recipient}")
        limit = self.limits.max_file_bytes if service == "file" else self.limits.max_message_bytes
        if size > limit:
            raise Forbidden(f"{service or 'message'} of {size} bytes is over the bridge's limit of {limit}")


def _strings(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{path}: expected a non-empty list of strings")
    return value


def _only(data: dict[str, Any], keys: set[str], path: str) -> None:
    unknown = sorted(set(data) - keys)
    if unknown:
        raise PolicyError(f"{path}{unknown[0]}: unknown key")


def parse_policy(data: Any) -> BridgePolicy:
    if not isinstance(data, dict):
        raise PolicyError("policy: expected a mapping")
    _only(data, {"version", "deployments", "groups", "limits", "allow", "spanning_groups"}, "")
    if data.get("version") != 1:
        raise PolicyError("version: must be 1")
    deployments = frozenset(_strings(data.get("deployments"), "deployments"))
    groups: dict[str, frozenset[str]] = {}
    for name, members in (data.get("groups") or {}).items():
        for member in _strings(members, f"groups.{name}"):
            if not _ADDRESS.match(member):
                raise PolicyError(f"groups.{name}: {member!r} is not user@deployment")
        groups[str(name)] = frozenset(_strings(members, f"groups.{name}"))
    raw_limits = data.get("limits") or {}
    if not isinstance(raw_limits, dict):
        raise PolicyError("limits: expected a mapping")
    _only(raw_limits, {"max_message_bytes", "max_file_bytes"}, "limits.")
    for k, v in raw_limits.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PolicyError(f"limits.{k}: expected a positive integer")
    rules = []
    for i, r in enumerate(data.get("allow") or []):
        path = f"allow[{i}]"
        if not isinstance(r, dict):
            raise PolicyError(f"{path}: expected a mapping")
        _only(r, {"from", "to", "services", "both_ways"}, path + ".")
        sources, targets = _strings(r.get("from"), path + ".from"), _strings(r.get("to"), path + ".to")
        for p in (*sources, *targets):
            m = _PATTERN.match(p)
            if m is None:
                raise PolicyError(f"{path}: {p!r} is not user@deployment, *@deployment or group:<name>")
            if m.group(3) is not None and m.group(3) not in groups:
                raise PolicyError(f"{path}: unknown group {m.group(3)!r}")
            if m.group(2) is not None and m.group(2) not in deployments:
                raise PolicyError(f"{path}: unknown deployment {m.group(2)!r}")
        services = _strings(r.get("services"), path + ".services")
        for s in services:
            if s not in SERVICES:
                raise PolicyError(f"{path}.services: {s!r} is not one of {', '.join(SERVICES)}")
        both = r.get("both_ways", False)
        if not isinstance(both, bool):
            raise PolicyError(f"{path}.both_ways: expected true or false")
        rules.append(Rule(tuple(sources), tuple(targets), frozenset(services), both))
    spanning = _spanning(data.get("spanning_groups") or {}, deployments)
    return BridgePolicy(deployments, groups, tuple(rules), Limits(**raw_limits), spanning)


def _spanning(raw: Any, deployments: frozenset[str]) -> dict[str, SpanningGroup]:
    if not isinstance(raw, dict):
        raise PolicyError("spanning_groups: expected a mapping")
    out: dict[str, SpanningGroup] = {}
    for name, g in raw.items():
        path = f"spanning_groups.{name}"
        if not isinstance(name, str) or not _GROUP.match(name):
            raise PolicyError(f"{path}: a group name is 1-64 letters, digits, '_', '.', '-'")
        if not isinstance(g, dict):
            raise PolicyError(f"{path}: expected a mapping")
        _only(g, {"members", "services", "floor", "priorities"}, path + ".")
        members = _strings(g.get("members"), path + ".members")
        for m in members:
            mm = _ADDRESS.match(m)
            if mm is None or mm.group(2) not in deployments:
                raise PolicyError(f"{path}.members: {m!r} is not user@deployment of a connected deployment")
        services = _strings(g.get("services"), path + ".services")
        for s in services:
            if s not in SERVICES:
                raise PolicyError(f"{path}.services: {s!r} is not one of {', '.join(SERVICES)}")
        if {"ptt", "call"} & set(services) and "message" not in services:
            raise PolicyError(f"{path}.services: 'ptt' and 'call' need 'message' too (media keys are group messages)")
        floor = g.get("floor")
        if floor not in deployments:
            raise PolicyError(f"{path}.floor: expected one of the deployments {sorted(deployments)}")
        prios = g.get("priorities") or {}
        if not isinstance(prios, dict):
            raise PolicyError(f"{path}.priorities: expected a mapping")
        for who, p in prios.items():
            if who not in members:
                raise PolicyError(f"{path}.priorities: {who!r} is not a member")
            if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 255:
                raise PolicyError(f"{path}.priorities.{who}: expected an integer 0..255")
        out[name] = SpanningGroup(name, tuple(sorted(set(members))), frozenset(services), str(floor), dict(prios))
    return out


def load_policy(path: Path) -> BridgePolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path.name}: not valid YAML") from exc
    return parse_policy(data)
