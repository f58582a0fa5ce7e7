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
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml

from dunpai.comms.errors import CommsError, Forbidden

Service = Literal["message", "file", "call", "ptt"]
SERVICES: tuple[Service, ...] = get_args(Service)
_USER = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}"
_DEP = r"[a-z0-9][a-z0-9-]{0,31}"
_ADDRESS = re.compile(rf"^({_USER})@({_DEP})$")
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
class BridgePolicy:
    deployments: frozenset[str]
    groups: dict[str, frozenset[str]]
    rules: tuple[Rule, ...]
    limits: Limits

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
    _only(data, {"version", "deployments", "groups", "limits", "allow"}, "")
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
    return BridgePolicy(deployments, groups, tuple(rules), Limits(**raw_limits))


def load_policy(path: Path) -> BridgePolicy:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise PolicyError(f"{path.name}: not valid YAML") from exc
    return parse_policy(data)
