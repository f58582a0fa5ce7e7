"""The README's "Using it" block, run as written on a fresh directory: every command must succeed.

The only change made to the text is the two port numbers (8600, 8765), moved to free ports so that
the test can run beside another test run; the commands themselves are the README's, in its order.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def using_it_block() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Using it\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found, "the README's Using it section has no ```sh block"
    return found.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_using_it_block_runs_as_written(tmp_path: Path) -> None:
    script = using_it_block()
    assert "8600" in script and "8765" in script
    script = script.replace("8600", str(_free_port())).replace("8765", str(_free_port()))
    shutil.copytree(REPO / "docs" / "examples", tmp_path / "docs" / "examples")
    (tmp_path / "readme.sh").write_text("set -euo pipefail\n" + script, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNPAI_")}  # a fresh shell's settings
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "160"
    try:
        done = subprocess.run(["bash", "readme.sh"], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900, check=False, stdin=subprocess.DEVNULL)
    finally:
        subprocess.run([sys.executable, "-m", "dunpai.cli", "comms", "stop", "--dir", "comms-private"],
                       cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    out = done.stdout
    assert '"action": "restrict"' in (tmp_path / "decisions.jsonl").read_text() or "restrict" in out
    assert "intact" in out and "OK" in out  # the evidence bundle and the audit chain verify
    assert '"decision_id":"dec_' in out  # the served API decided the curl'd event
    assert "你好，王先生" in out  # the deployment's administrator reached the new user end to end
    pilot = json.loads((tmp_path / "pilot-eval.json").read_text())  # the imported history trained and tested
    assert pilot["mean"]["auc_roc"] > 0.9 and pilot["policy"]["legit_interrupted"] <= 0.02
