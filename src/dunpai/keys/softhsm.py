"""SoftHSM2 helpers: find the module, and make throw-away tokens in a private directory.

Tokens are only ever created under a temporary directory named by ``SOFTHSM2_CONF``; a system token
is never touched. SoftHSM2 reads ``SOFTHSM2_CONF`` once, when the library is first initialised in a
process, so a process has one sandbox directory and makes every temporary token inside it. New
tokens are initialised in-process (``C_InitToken`` on the free slot of the already loaded module)
rather than by ``softhsm2-util``, because a token made by another process is only seen after
re-initialising the library, which would invalidate every open session.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import glob
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from dunpai.keys.errors import KeyStoreError

_CANDIDATES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/opt/homebrew/lib/softhsm/libsofthsm2.so",
)
TEST_SO_PIN = "dunpai-so-pin"


def find_softhsm_module() -> str | None:
    """The SoftHSM2 PKCS#11 module on this machine, or ``None``. (Another module is named by the
    ``keystore.module`` setting, ``DUNPAI_PKCS11_MODULE``.)"""
    for path in _CANDIDATES:
        if os.path.isfile(path):
            return path
    for path in sorted(glob.glob("/usr/lib*/**/libsofthsm2.so", recursive=True)):
        return path
    found = ctypes.util.find_library("softhsm2")
    return found if found and os.path.isfile(found) else None


def _module_loaded(module: str) -> bool:
    """Whether this process has already mapped the module (Linux: /proc/self/maps)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            real = os.path.realpath(module)
            return any(line.rstrip().endswith(real) or line.rstrip().endswith(module) for line in maps)
    except OSError:
        return False


@dataclass(frozen=True)
class SoftHsmToken:
    """A token in the sandbox: everything ``open_keystore(backend="pkcs11", ...)`` needs."""

    module_path: str
    token_label: str
    pin: str


def _uses_system_tokens(conf: Path) -> bool:
    try:
        text = conf.read_text(encoding="utf-8")
    except OSError:
        return True
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "directories.tokendir":
            return value.strip().startswith("/var/lib/softhsm")
    return True


class _Sandbox:
    @classmethod
    def adopt(cls, module: str, conf: Path) -> _Sandbox:
        """Use a private configuration that another part of this process set up first."""
        sandbox = cls.__new__(cls)
        sandbox.module, sandbox.conf, sandbox.directory = module, conf, conf.parent
        return sandbox

    def __init__(self, module: str) -> None:
        self.module = module
        self.directory = Path(tempfile.mkdtemp(prefix="dunpai-softhsm-"))
        (self.directory / "tokens").mkdir()
        self.conf = self.directory / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {self.directory / 'tokens'}\n"
            "objectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            encoding="utf-8",
        )
        atexit.register(shutil.rmtree, self.directory, True)


_sandbox: _Sandbox | None = None
_sandbox_lock = threading.Lock()


def _get_sandbox(module: str) -> _Sandbox:
    global _sandbox
    with _sandbox_lock:
        if _sandbox is None:
            current = os.environ.get("SOFTHSM2_CONF")
            if _module_loaded(module):
                # Someone loaded SoftHSM2 before us. Their private configuration is acceptable;
                # the system one (no SOFTHSM2_CONF, or /var/lib/softhsm tokens) is not.
                if not current or _uses_system_tokens(Path(current)):
                    raise KeyStoreError("SoftHSM2 is already initialised in this process with the system "
                                        "token directory; refusing to create tokens there")
                _sandbox = _Sandbox.adopt(module, Path(current))
                return _sandbox
            sandbox = _Sandbox(module)
            os.environ["SOFTHSM2_CONF"] = str(sandbox.conf)
            _sandbox = sandbox
        return _sandbox


def temporary_softhsm_token(label: str | None = None, pin: str | None = None) -> SoftHsmToken:
    """Create a fresh, empty SoftHSM2 token in this process's temporary sandbox directory.

    Raises ``KeyStoreError`` when SoftHSM2 is not installed. The sandbox is removed at exit.
    """
    import pkcs11  # the same dlopen handle that python-pkcs11 uses for the module

    module = find_softhsm_module()
    if module is None:
        raise KeyStoreError("SoftHSM2 is not installed (libsofthsm2.so not found)")
    _get_sandbox(module)
    label = label or f"dunpai-{secrets.token_hex(6)}"
    pin = pin or secrets.token_hex(8)
    if len(label.encode()) > 32:
        raise KeyStoreError("a token label is at most 32 bytes")
    with _sandbox_lock:
        lib = pkcs11.lib(module)
        free = [s for s in lib.get_slots(token_present=True)
                if not s.get_token().flags & pkcs11.TokenFlag.TOKEN_INITIALIZED]
        if not free:
            raise KeyStoreError("SoftHSM2 offers no free slot")
        raw = ctypes.CDLL(module)
        raw.C_InitToken.argtypes = [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        raw.C_InitToken.restype = ctypes.c_ulong
        so_pin = TEST_SO_PIN.encode()
        rv = raw.C_InitToken(free[0].slot_id, so_pin, len(so_pin), label.encode().ljust(32, b" "))
        if rv != 0:
            raise KeyStoreError(f"C_InitToken failed (CKR 0x{rv:x})")
        token = lib.get_token(token_label=label)
        with token.open(rw=True, so_pin=TEST_SO_PIN) as session:
            session.init_pin(pin)
    return SoftHsmToken(module, label, pin)
