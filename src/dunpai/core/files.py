"""Files that only the service's own user may read: data directories 0700, files 0600.

Every ``dunpai`` process starts with the umask 077 (``cli.main``), so whatever it creates — the
database and its WAL, state snapshots, key stores, models, evidence — is private from the start.
``tighten`` repairs a data directory made before that (``dunpai.db`` 0644 in a 0755 directory): it
takes group and other access away from the directory and everything under it that this user owns,
and never touches a shared directory (sticky, like ``/tmp``) or someone else's files.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_umask() -> int:
    """Make every file this process creates private; returns the previous umask."""
    return os.umask(PRIVATE_UMASK)


def _mine(st: os.stat_result) -> bool:
    return st.st_uid == os.getuid()


def tighten(path: Path) -> list[Path]:
    """Remove group and other access from ``path`` and what lies under it (this user's own files,
    symbolic links not followed). Returns what was changed."""
    changed: list[Path] = []
    try:
        top = path.lstat()
    except FileNotFoundError:
        return changed
    if not stat.S_ISDIR(top.st_mode) or top.st_mode & stat.S_ISVTX or not _mine(top):
        return changed
    for root, dirs, files in os.walk(path):
        for name in (root, *(os.path.join(root, d) for d in dirs), *(os.path.join(root, f) for f in files)):
            st = os.lstat(name)
            if stat.S_ISLNK(st.st_mode) or not _mine(st) or not st.st_mode & 0o077:
                continue
            os.chmod(name, stat.S_IMODE(st.st_mode) & 0o700)
            changed.append(Path(name))
    return changed


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (its directory 0700) when missing; take group and other
    access from it when it exists and is this user's."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        st = path.stat()
        if _mine(st) and st.st_mode & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
        return
    os.close(fd)
