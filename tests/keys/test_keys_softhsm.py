"""The SoftHSM2 helper only ever makes tokens in a private temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from dunpai.keys import SoftHsmToken, find_softhsm_module


def test_tokens_live_in_a_private_temporary_directory(softhsm_token: SoftHsmToken) -> None:
    conf = Path(os.environ["SOFTHSM2_CONF"])
    assert conf.is_relative_to(tempfile.gettempdir())
    assert "directories.tokendir = " + str(conf.parent / "tokens") in conf.read_text()
    assert softhsm_token.module_path == find_softhsm_module()


ADOPT = """
import os, sys, pkcs11
from dunpai.keys import find_softhsm_module, temporary_softhsm_token, open_keystore
pkcs11.lib(find_softhsm_module())          # someone else loads SoftHSM2 first, with their own conf
token = temporary_softhsm_token()
store = open_keystore("pkcs11", module_path=token.module_path, token_label=token.token_label, pin=token.pin)
store.generate("k", "ed25519")
print(len(os.listdir(sys.argv[1])))
"""


def test_a_private_configuration_loaded_first_is_adopted(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    out = subprocess.run([sys.executable, "-c", ADOPT, str(tmp_path / "tokens")], env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "1"  # the new token went into that private directory
