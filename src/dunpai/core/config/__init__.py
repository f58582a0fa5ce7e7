"""Typed configuration: one settings tree, validated once, frozen; unknown keys are errors that
name the key's path. Defaults, then a YAML file, then environment variables, then command-line
flags (``tree.py`` says why; ``docs/configuration.md`` lists every setting)."""

from dunpai.core.config.base import Env, Section
from dunpai.core.config.comms import (
    BridgeLinkSettings,
    BridgeSettings,
    CommsDeviceSettings,
    CommsServiceSettings,
    CommsSettings,
    DeploymentSettings,
)
from dunpai.core.config.events import EventSettings
from dunpai.core.config.keystore import KdfSettings, KeystoreSettings
from dunpai.core.config.risk import (
    ApiKeySettings,
    BankSettings,
    DatasetSettings,
    ModelSettings,
    StateSettings,
)
from dunpai.core.config.server import ConsoleSettings, ServerSettings
from dunpai.core.config.tree import CONFIG_ENV, Settings, child_environment, load_settings, secret
from dunpai.core.roles import Role

BankConfig = BankSettings  # the name used before the tree

__all__ = [
    "CONFIG_ENV",
    "ApiKeySettings",
    "BankConfig",
    "BankSettings",
    "BridgeLinkSettings",
    "BridgeSettings",
    "CommsDeviceSettings",
    "CommsServiceSettings",
    "CommsSettings",
    "ConsoleSettings",
    "DatasetSettings",
    "DeploymentSettings",
    "Env",
    "EventSettings",
    "KdfSettings",
    "KeystoreSettings",
    "ModelSettings",
    "Role",
    "Section",
    "ServerSettings",
    "Settings",
    "StateSettings",
    "child_environment",
    "load_settings",
    "secret",
]
