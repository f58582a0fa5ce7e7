"""Data directories 0700, files 0600 (issue 14, item 13): what a ``dunpai`` process creates, and a
data directory left by an older release, tightened by ``dunpai serve``."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from dunpai.core.db import make_engine
from dunpai.core.files import tighten
from tests.kdf import CHEAP_KDF_ENV

REPO = Path(__file__).resolve().parents[2]


def modes(root: Path) -> dict[str, str]:
    out = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        if not path.is_symlink():
            out[str(path.relative_to(root))] = oct(stat.S_IMODE(path.stat().st_mode))
    return out


def test_what_a_command_creates_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUNPAI_")} | CHEAP_KDF_ENV
    for args in (["apikey", "--role", "integrator"], ["replay", str(REPO / "docs" / "examples" / "events.jsonl")]):
        done = subprocess.run([sys.executable, "-m", "dunpai.cli", *args, "--data-dir", str(data)], env=env,
                              capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    found = modes(data)
    assert {"dunpai.db", "keys", "keys/keystore.dpks", "keys/passphrase"} <= set(found)
    loose = {p: m for p, m in found.items() if m not in ("0o700", "0o600")}
    assert loose == {}
    assert all(m == "0o700" for p, m in found.items() if (data / p).is_dir())


def test_an_old_data_directory_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "old"
    (data / "keys").mkdir(parents=True)
    for path, mode in ((data / "dunpai.db", 0o644), (data / "keys" / "keystore.dpks", 0o640),
                       (data / "state.snapshot", 0o664)):
        path.write_bytes(b"")
        path.chmod(mode)
    data.chmod(0o755)
    (data / "keys").chmod(0o755)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp: never tightened
    assert len(tighten(data)) == 5
    assert set(modes(data).values()) <= {"0o700", "0o600"}
    assert tighten(shared) == [] and oct(stat.S_IMODE(shared.stat().st_mode)) == "0o1777"


def test_the_embedded_database_is_made_private_before_sqlite_opens_it(tmp_path: Path) -> None:
    old = tmp_path / "dunpai.db"
    old.write_bytes(b"")
    old.chmod(0o644)
    engine = make_engine(f"sqlite:///{old}")
    engine.dispose()
    assert oct(stat.S_IMODE(old.stat().st_mode)) == "0o600"
    fresh = tmp_path / "new" / "dunpai.db"
    engine = make_engine(f"sqlite:///{fresh}")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
        conn.commit()
    assert oct(stat.S_IMODE(fresh.stat().st_mode)) == "0o600"
    assert oct(stat.S_IMODE((tmp_path / "new" / "dunpai.db-wal").stat().st_mode)) == "0o600"
    assert oct(stat.S_IMODE(fresh.parent.stat().st_mode)) == "0o700"
    engine.dispose()
