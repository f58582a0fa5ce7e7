"""From nothing to a working private deployment with an enrolled administrator and user, timed.

Run: ``.venv/bin/python -m bench.deploy_bench`` (writes ``bench/results/deploy.json``). Each step is
the real command line in a child process (``dunpai comms deploy``, ``register``, ``send``,
``receive``) with the key stores' default Argon2id cost; loopback only; the service is stopped at
the end (``dunpai comms stop``). Target: under 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "deploy.json"
TARGET_S = 60.0


def _cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    argv = [sys.executable, "-m", "dunpai.cli", "comms", *args]
    done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed: {done.stdout}{done.stderr}")
    return done.stdout


def run(cheap_kdf: bool = False) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items()
           if k != "DUNPAI_KEYSTORE_PASSPHRASE" and not k.startswith("DUNPAI_KEYSTORE_KDF_")}
    env["COLUMNS"] = "200"
    if cheap_kdf:  # throw-away stores only: the keystore.kdf settings at their cheapest
        env.update({"DUNPAI_KEYSTORE_KDF_ITERATIONS": "1", "DUNPAI_KEYSTORE_KDF_MEMORY_MIB": "1",
                    "DUNPAI_KEYSTORE_KDF_LANES": "1"})
    user_env = {**env, "DUNPAI_KEYSTORE_PASSPHRASE": "bench passphrase for the user's device"}
    admin_env = {**env, "DUNPAI_KEYSTORE_PASSPHRASE": "bench passphrase for the administrator's device"}
    with tempfile.TemporaryDirectory(prefix="dunpai-deploy-") as tmp:
        root = Path(tmp)
        d = root / "deploy"
        steps: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            _cli("deploy", "--dir", str(d), "--port", "0", env=env, cwd=root)
            steps["deploy_s"] = time.perf_counter() - t0
            ready = json.loads((d / "run" / "ready.json").read_text())
            invite = (d / "secrets" / "invites.txt").read_text().split()[0]
            t_admin = time.perf_counter()
            # the administrator enrols from their own device (never the service host) with the admin invite
            _cli("register", "--server", ready["url"], "--user", "admin", "--invite",
                 (d / "secrets" / "admin-invite.txt").read_text().strip(), "--home", str(root / "admin"),
                 env=admin_env, cwd=root)
            steps["enrol_admin_s"] = time.perf_counter() - t_admin
            t1 = time.perf_counter()
            _cli("register", "--server", ready["url"], "--user", "wang", "--invite", invite,
                 "--home", str(root / "wang"), env=user_env, cwd=root)
            steps["enrol_user_s"] = time.perf_counter() - t1
            t2 = time.perf_counter()
            _cli("send", "hello from the administrator", "--to", "wang", "--home", str(root / "admin"),
                 env=admin_env, cwd=root)
            got = _cli("receive", "--json", "--wait", "1", "--home", str(root / "wang"), env=user_env, cwd=root)
            steps["first_message_s"] = time.perf_counter() - t2
            total = time.perf_counter() - t0
            messages = json.loads(got.strip().splitlines()[-1])
            if not any(m["text"] == "hello from the administrator" for m in messages):
                raise RuntimeError("the enrolled user did not receive the administrator's message")
            t3 = time.perf_counter()
            _cli("deploy", "--dir", str(d), "--port", "0", env=env, cwd=root)
            steps["redeploy_s"] = time.perf_counter() - t3
        finally:
            _cli("stop", "--dir", str(d), env=env, cwd=root)
    return {
        "benchmark": "deploy",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "argon2": "test-cheap" if cheap_kdf else "default (RFC 9106)",
        "database": "sqlite",
        "nothing_to_enrolled_user_with_message_s": round(total, 3),
        **{k: round(v, 3) for k, v in steps.items()},
        "target_s": TARGET_S,
        "met": total < TARGET_S,
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true", help="cheap Argon2id (tests only)")
    args = parser.parse_args(argv)
    result = run(cheap_kdf=args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
