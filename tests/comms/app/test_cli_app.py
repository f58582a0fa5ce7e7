"""``dunpai comms app`` starts from the CLI, prints nothing secret but its own address, answers only
with the launch secret, and stops cleanly on SIGTERM (its address file removed)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from bench.app_procs import app_env


def test_cli_starts_the_app_and_it_stops_on_sigterm(tmp_path: Path) -> None:
    url_file = tmp_path / "app.url"
    # the `dunpai comms` sub-command tree, as `dunpai comms app …` runs it
    comms = "from dunpai.cli.comms import app; app(prog_name='dunpai comms')"
    proc = subprocess.Popen([sys.executable, "-c", comms, "app", "--home", str(tmp_path / "home"), "--no-browser",
                             "--url-file", str(url_file)], env=app_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not url_file.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        url = url_file.read_text().strip()
        assert oct(url_file.stat().st_mode & 0o777) == "0o600"
        origin = url.split("/?")[0]
        assert origin.startswith("http://127.0.0.1:")
        with httpx.Client() as c:
            assert c.get(origin + "/").status_code == 403
            assert c.get(url, follow_redirects=True).status_code == 200
            assert c.get(origin + "/api/state").json() == {"type": "snapshot", "enrolled": False}
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0, out
    assert "Traceback" not in out and not url_file.exists()


def test_both_entry_points_are_one_command_and_name_a_bad_setting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('server: {port: "x"}\n')
    comms = "from dunpai.cli.comms import app; app(prog_name='dunpai comms')"
    for argv in ([sys.executable, "-c", comms, "app"], [sys.executable, "-m", "dunpai.comms.app"]):
        done = subprocess.run([*argv, "--config", str(bad), "--no-browser"], env=app_env(), capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "server.port" in done.stderr and "Traceback" not in done.stderr
