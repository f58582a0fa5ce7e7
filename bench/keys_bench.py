"""Key-custody benchmark: seal/open and sign/verify per second, per key-store backend.

Run: ``.venv/bin/python -m bench.keys_bench`` (writes ``bench/results/keys.json``).
Each figure is the median of several timed runs of a fixed number of operations, single-threaded.
The PKCS#11 figures are for SoftHSM2 (a software token); a hardware HSM's are its own.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from dunpai.keys import (
    Envelope,
    KeyStore,
    PanTokenizer,
    find_softhsm_module,
    open_keystore,
    temporary_softhsm_token,
)

RUNS = 5
OPS = 500
PLAINTEXT = os.urandom(256)  # about one sealed personal-data field plus headroom
AAD = b"customer:cust-001/name"
RESULTS = Path(__file__).resolve().parent / "results" / "keys.json"


def per_second(op: Callable[[int], Any], runs: int = RUNS, ops: int = OPS) -> float:
    op(0)  # warm-up
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for i in range(ops):
            op(i)
        rates.append(ops / (time.perf_counter() - start))
    return round(statistics.median(rates), 1)


def _seal(env: Envelope, _i: int) -> bytes:
    return env.seal(PLAINTEXT, AAD)


def _open(env: Envelope, sealed: list[bytes], i: int) -> bytes:
    return env.open(sealed[i], AAD)


def _sign(store: KeyStore, key_id: str, message: bytes, _i: int) -> bytes:
    return store.sign(key_id, message)


def _verify(store: KeyStore, key_id: str, message: bytes, sig: bytes, _i: int) -> None:
    store.verify(key_id, message, sig)


def measure(store: KeyStore, suites: tuple[str, ...]) -> dict[str, float]:
    store.generate("bench-kek", "aes-256")
    store.generate("bench-ed", "ed25519")
    store.generate("bench-ec", "ec-p256")
    store.generate("pan-token", "hmac-sha256")
    out: dict[str, float] = {}
    for suite in suites:
        env = Envelope(store, "bench-kek", suite)  # type: ignore[arg-type]
        sealed = [env.seal(PLAINTEXT, AAD) for _ in range(OPS)]
        out[f"seal_{suite}_per_s"] = per_second(partial(_seal, env))
        out[f"open_{suite}_per_s"] = per_second(partial(_open, env, sealed))
    for label, kind in (("bench-ed", "ed25519"), ("bench-ec", "ec-p256")):
        key_id = store.find(label).key_id
        message = b"checkpoint 000042 " + os.urandom(32)
        sig = store.sign(key_id, message)
        out[f"sign_{kind}_per_s"] = per_second(partial(_sign, store, key_id, message))
        out[f"verify_{kind}_per_s"] = per_second(partial(_verify, store, key_id, message, sig))
    tokenizer = PanTokenizer(store)
    out["pan_token_per_s"] = per_second(lambda i: tokenizer.token(f"62220212345{i:05d}"))
    return out


def main() -> None:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        software = open_keystore("software", path=Path(tmp) / "bench.dpks", passphrase="bench passphrase",
                                 create=True)
        results["software"] = measure(software, ("aes-256-gcm", "sm4-gcm"))
        software.close()
    if find_softhsm_module() is not None:
        token = temporary_softhsm_token()
        hsm = open_keystore("pkcs11", module_path=token.module_path, token_label=token.token_label,
                            pin=token.pin)
        results["pkcs11-softhsm2"] = measure(hsm, ("aes-256-gcm", "sm4-gcm"))
        hsm.close()
    else:
        results["pkcs11-softhsm2"] = {"skipped": "SoftHSM2 not installed"}
    report = {
        "benchmark": "keys",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "method": f"median of {RUNS} runs x {OPS} operations, one thread; seal/open of a "
                  f"{len(PLAINTEXT)}-byte record with a fresh data key wrapped by the store "
                  "(so each seal and open includes one store wrap/unwrap); sign/verify of a 50-byte "
                  "message; PAN token = one store HMAC",
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
