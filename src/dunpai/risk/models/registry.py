"""The model registry: versioned artefacts on disk, champion and challenger.

Layout of a registry directory::

    registry.json                 {"format": 1, "champion": VERSION | null, "challenger": VERSION | null}
    VERSION/model.txt             the LightGBM model text
    VERSION/meta.json             parameters, features, data window, metrics, calibration, sha256

``VERSION`` is ``lgbm_`` plus the first 12 hex digits of the SHA-256 of ``model.txt`` and its
metadata, so the same training gives the same version. Loading verifies the checksum and raises
:class:`ModelIntegrityError` on any mismatch: a tampered or truncated artefact never scores.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb

from dunpai.risk.models.coldstart import ColdStartScorer
from dunpai.risk.models.policy import Thresholds
from dunpai.risk.models.scorer import LightGBMScorer
from dunpai.risk.models.train import Fitted

AnyScorer = LightGBMScorer | ColdStartScorer

FORMAT = 1
ROLES = ("champion", "challenger")


class ModelIntegrityError(Exception):
    """A stored model does not match its recorded checksum."""


class UnknownModel(KeyError):
    """No such model version in the registry."""


@dataclass(frozen=True)
class ModelInfo:
    version: str
    meta: dict[str, Any]
    role: str | None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Registry:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- state ---------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        path = self.root / "registry.json"
        if not path.exists():
            return {"format": FORMAT, "champion": None, "challenger": None}
        state: dict[str, Any] = json.loads(path.read_text())
        if state.get("format") != FORMAT:
            raise ValueError(f"registry format {state.get('format')!r} is not {FORMAT}")
        return state

    def _save_state(self, state: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.root / "registry.json", json.dumps(state, indent=2, sort_keys=True).encode())

    # -- writing -------------------------------------------------------------------------------
    def register(self, fitted: Fitted, data_window: dict[str, str], extra: dict[str, Any] | None = None,
                 role: str | None = "challenger") -> str:
        """Store a fitted model and return its version; ``role`` names the slot it takes (the first
        model of an empty registry becomes champion)."""
        text = fitted.scorer.booster.model_to_string().encode()
        policy = fitted.scorer.policy
        meta: dict[str, Any] = {
            "format": FORMAT,
            "kind": "lightgbm-binary",
            "params": fitted.params,
            "best_iteration": fitted.best_iteration,
            "features": list(fitted.scorer.features),
            "calibration": {"method": "platt", "a": fitted.scorer.calibration[0], "b": fitted.scorer.calibration[1]},
            "thresholds": policy.to_dict() if policy is not None else None,
            "data_window": data_window,
            "metrics": fitted.metrics,
            **(extra or {}),
        }
        return self._store("lgbm_", text, meta, role)

    def register_cold_start(self, scorer: ColdStartScorer, data_window: dict[str, str],
                            extra: dict[str, Any] | None = None, role: str | None = "champion") -> str:
        """Store a cold-start (habit deviation) scorer, champion by default: it serves until a
        supervised model is trained and promoted."""
        text = json.dumps(scorer.to_json(), sort_keys=True).encode()
        meta: dict[str, Any] = {"format": FORMAT, "kind": scorer.kind, "features": list(scorer.features),
                                "thresholds": scorer.policy.to_dict(), "data_window": data_window,
                                "metrics": {}, "best_iteration": 0, **(extra or {})}
        return self._store("hab_", text, meta, role)

    def _store(self, prefix: str, text: bytes, meta: dict[str, Any], role: str | None) -> str:
        body = json.dumps(meta, sort_keys=True, default=str).encode()
        version = prefix + _sha256(text + b"\x00" + body)[:12]
        meta["version"] = version
        meta["model_sha256"] = _sha256(text)
        folder = self.root / version
        folder.mkdir(parents=True, exist_ok=True)
        _atomic_write(folder / "model.txt", text)
        _atomic_write(folder / "meta.json", json.dumps(meta, indent=2, sort_keys=True, default=str).encode())
        state = self._state()
        if state["champion"] is None:
            state["champion"] = version
        elif role in ROLES:
            state[role] = version
        self._save_state(state)
        return version

    def promote(self, version: str | None = None) -> str:
        """Make ``version`` (default: the challenger) the champion; the old champion is kept on disk."""
        state = self._state()
        target = version or state["challenger"]
        if target is None:
            raise UnknownModel("no challenger to promote")
        self.meta(target)
        state["champion"] = target
        if state["challenger"] == target:
            state["challenger"] = None
        self._save_state(state)
        return str(target)

    # -- reading -------------------------------------------------------------------------------
    def versions(self) -> list[ModelInfo]:
        state = self._state()
        roles = {state["champion"]: "champion", state["challenger"]: "challenger"}
        out = []
        if self.root.exists():
            for meta_path in sorted(self.root.glob("*/meta.json")):
                meta = json.loads(meta_path.read_text())
                out.append(ModelInfo(meta["version"], meta, roles.get(meta["version"])))
        return out

    def role_of(self, version: str) -> str | None:
        state = self._state()
        return next((r for r in ROLES if state[r] == version), None)

    def role(self, role: str) -> str | None:
        value = self._state()[role]
        return str(value) if value is not None else None

    def meta(self, version: str) -> dict[str, Any]:
        path = self.root / version / "meta.json"
        if not path.exists():
            raise UnknownModel(version)
        meta: dict[str, Any] = json.loads(path.read_text())
        return meta

    def load(self, version: str) -> AnyScorer:
        """Load and verify a model (raises :class:`ModelIntegrityError` when its bytes changed)."""
        meta = self.meta(version)
        text = (self.root / version / "model.txt").read_bytes()
        if _sha256(text) != meta["model_sha256"]:
            raise ModelIntegrityError(f"model {version}: checksum mismatch")
        body = {k: v for k, v in meta.items() if k not in ("version", "model_sha256")}
        prefix = version.split("_", 1)[0] + "_"
        expected = prefix + _sha256(text + b"\x00" + json.dumps(body, sort_keys=True, default=str).encode())[:12]
        if expected != version:
            raise ModelIntegrityError(f"model {version}: metadata does not match its version")
        if meta["kind"] == ColdStartScorer.kind:
            return ColdStartScorer.from_json(json.loads(text), version)
        booster = lgb.Booster(model_str=text.decode())
        cal = meta["calibration"]
        policy = Thresholds.from_dict(meta["thresholds"]) if meta.get("thresholds") else None
        return LightGBMScorer(booster, meta["features"], (float(cal["a"]), float(cal["b"])), version, policy)

    def load_role(self, role: str) -> AnyScorer | None:
        version = self.role(role)
        return self.load(version) if version is not None else None
