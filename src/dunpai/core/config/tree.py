"""The one settings tree, and how it is read.

Sources, later ones winning (the one precedence every command follows):

1. built-in defaults;
2. a YAML settings file: ``--config PATH`` or ``DUNPAI_CONFIG`` (secrets are refused there);
3. environment variables, one per setting (``docs/configuration.md`` lists each);
4. command-line flags.

The result is validated once and frozen; an unknown key or a bad value is an ``InvalidInput``
whose problems name the setting's path (``server.port``). Library code never reads the
environment or a file: each process's composition root loads the settings and passes the parts
its objects need.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from dunpai.core.config.base import Env, put, walk
from dunpai.core.config.comms import CommsSettings
from dunpai.core.config.events import EventSettings
from dunpai.core.config.keystore import KeystoreSettings
from dunpai.core.config.risk import (
    ApiKeySettings,
    BankSettings,
    DatasetSettings,
    ModelSettings,
    PolicySettings,
    StateSettings,
)
from dunpai.core.config.server import ConsoleSettings, ServerSettings
from dunpai.core.errors import FieldProblem, InvalidInput

CONFIG_ENV = "DUNPAI_CONFIG"
_FILE: ContextVar[dict[str, Any]] = ContextVar("dunpai_settings_file", default={})  # noqa: B039 - never mutated


class Settings(BaseSettings):
    """Everything a Dunpai process can be told. One section per concern; add yours as a
    ``Section`` subclass and a field here (see ``docs/configuration.md``, "Adding a setting")."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True, validate_default=True)

    version: Annotated[Literal[1], Env(None)] = Field(default=1, description="settings format version")
    config_file: Annotated[Path | None, Env(CONFIG_ENV)] = Field(
        default=None, description="the YAML settings file read (flag --config)")
    data_dir: Path = Field(default=Path(".dunpai"), description="where the embedded database, state and keys live")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (default: sqlite:///DATA_DIR/dunpai.db; postgresql://… in production)")
    default_currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency of amounts")
    keystore: KeystoreSettings = KeystoreSettings()
    state: StateSettings = StateSettings()
    bank: BankSettings = BankSettings()
    api_keys: tuple[ApiKeySettings, ...] = Field(default=(), description="API keys given by digest (file only)")
    server: ServerSettings = ServerSettings()
    events: EventSettings = EventSettings()
    console: ConsoleSettings = ConsoleSettings()
    models: ModelSettings = ModelSettings()
    policy: PolicySettings = PolicySettings()
    datasets: DatasetSettings = DatasetSettings()
    comms: CommsSettings = CommsSettings()

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'dunpai.db'}"

    @property
    def model_registry(self) -> Path:
        return self.models.registry or self.data_dir / "models"

    @property
    def comms_db(self) -> str:
        return self.comms.service.db or f"sqlite:///{self.data_dir / 'comms.db'}"

    @property
    def comms_home(self) -> Path:
        return self.comms.device.home or self.data_dir / "comms-device"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, DeclaredEnvironment(settings_cls), FileSource(settings_cls)


class DeclaredEnvironment(PydanticBaseSettingsSource):
    """Only the variables the tree declares (``walk``); an older name is read when the current one
    is unset."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole tree

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for leaf in walk(self.settings_cls):
            for name in (leaf.env, *leaf.deprecated) if leaf.env else ():
                value = os.environ.get(name)
                if value is not None and value != "":
                    put(found, leaf.path, value)
                    break
        return found


class FileSource(PydanticBaseSettingsSource):
    """The YAML file's tree, as read by :func:`load_settings`."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return _FILE.get()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise InvalidInput(f"cannot read the settings file {path}",
                           problems=[FieldProblem("config_file", exc.strerror or "unreadable")]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the settings file {path} is not YAML",
                           problems=[FieldProblem("config_file", str(exc).splitlines()[0])]) from None
    if not isinstance(loaded, dict):
        raise InvalidInput("configuration must be a mapping", problems=[FieldProblem("$", "not a mapping")])
    secrets = [leaf.dotted for leaf in walk(Settings, env=False) if leaf.secret and _has(loaded, leaf.path)]
    if secrets:
        raise InvalidInput("secrets never come from the settings file",
                           problems=[FieldProblem(s, "set it in the environment instead") for s in secrets])
    return loaded


def _has(tree: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def load_settings(path: Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read, validate and freeze the settings: ``path`` (else ``$DUNPAI_CONFIG``), the environment,
    then ``overrides`` (command-line flags, as a nested dict). Raises ``InvalidInput`` naming every
    bad key."""
    env_file = os.environ.get(CONFIG_ENV)
    path = path or (Path(env_file) if env_file else None)
    file_tree = _read_file(path) if path is not None else {}
    flags = dict(overrides or {})
    if path is not None:
        flags.setdefault("config_file", path)
    token = _FILE.set(file_tree)
    try:
        return Settings(**flags)
    except ValidationError as exc:
        problems = [FieldProblem(".".join(str(p) for p in e["loc"]) or "$", e["msg"]) for e in exc.errors()]
        raise InvalidInput("invalid configuration", problems=problems) from exc
    finally:
        _FILE.reset(token)


def child_environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment for a ``dunpai`` process it starts, with ``settings`` (dotted
    paths, e.g. ``state.backend``) given through their environment variables, so that they win over
    the child's settings file. Raises ``InvalidInput`` naming a path without a variable."""
    names = {".".join(leaf.path): leaf.env for leaf in walk(Settings)}
    env = dict(os.environ)
    for path, value in settings.items():
        name = names.get(path)
        if name is None:
            raise InvalidInput("no such setting", problems=[FieldProblem(path, "has no environment variable")])
        env[name] = value
    return env


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret setting."""
    return None if value is None else value.get_secret_value()
