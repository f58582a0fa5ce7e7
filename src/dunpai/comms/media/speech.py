"""Spoken test audio from espeak-ng (an I/O edge used by the demo, tests and benchmark)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from dunpai.comms.media.codec import PCM, read_wav


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str = "en", speed: int = 160) -> PCM:
    """``text`` spoken by espeak-ng, as 48 kHz mono PCM."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (scripts/system-deps.sh installs it)")
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "speech.wav"
        subprocess.run([exe, "-v", voice, "-s", str(speed), "-w", str(out), "--", text],  # noqa: S603
                       check=True, capture_output=True, timeout=30)
        return read_wav(out)
