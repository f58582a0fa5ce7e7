"""The sound device (optional): microphone input and speaker output through PyAV's ALSA device.

Used by ``dunpai comms call … --mic / --speaker``. Where there is no sound device (a server, a
container, CI) every entry point raises :class:`NoSoundDevice` with a clear message before
touching ALSA; WAV files (``--wav`` / ``--out-dir``) work everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np

from dunpai.comms.errors import CommsError
from dunpai.comms.media import codec

SND_DIR = Path("/dev/snd")


class NoSoundDevice(CommsError):
    code = "no_sound_device"


def sound_device_present(snd_dir: Path = SND_DIR) -> bool:
    """Whether the kernel exposes any ALSA PCM device."""
    return snd_dir.is_dir() and any(p.name.startswith("pcmC") for p in snd_dir.iterdir())


def require_sound_device(what: str, snd_dir: Path = SND_DIR) -> None:
    if not sound_device_present(snd_dir):
        raise NoSoundDevice(f"no sound device for the {what} (no ALSA PCM device in {snd_dir}); "
                            "use a WAV file instead (--wav / --out-dir)")


def _open(device: str, mode: str, what: str) -> Any:
    import av

    require_sound_device(what)
    try:
        if mode == "r":
            return av.open(device, format="alsa", options={"sample_rate": str(codec.SAMPLE_RATE), "channels": "1"})
        return av.open(device, "w", format="alsa")
    except av.error.FFmpegError as exc:
        raise NoSoundDevice(f"the {what} ALSA device {device!r} could not be opened ({exc})") from None


async def microphone_frames(seconds: float, device: str = "default") -> AsyncIterator[codec.PCM]:
    """20 ms frames (48 kHz mono) from the microphone for ``seconds``; capture runs in a thread."""
    container = _open(device, "r", "microphone")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[codec.PCM | None] = asyncio.Queue()
    stop = threading.Event()

    def capture() -> None:
        import av

        resampler = av.AudioResampler(format="s16", layout="mono", rate=codec.SAMPLE_RATE)
        buf = np.zeros(0, dtype=np.int16)
        need = int(seconds * codec.SAMPLE_RATE)
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    buf = np.concatenate([buf, out.to_ndarray().reshape(-1).astype(np.int16)])
                while len(buf) >= codec.FRAME_SAMPLES and need > 0:
                    loop.call_soon_threadsafe(queue.put_nowait, buf[: codec.FRAME_SAMPLES].copy())
                    buf, need = buf[codec.FRAME_SAMPLES :], need - codec.FRAME_SAMPLES
                if need <= 0 or stop.is_set():
                    break
        finally:
            container.close()
            loop.call_soon_threadsafe(queue.put_nowait, None)

    thread = threading.Thread(target=capture, name="dunpai-mic", daemon=True)
    thread.start()
    try:
        while (frame := await queue.get()) is not None:
            yield frame
    finally:
        stop.set()


class Speaker:
    """Plays 48 kHz mono PCM on the sound device as it arrives."""

    def __init__(self, device: str = "default") -> None:
        self._container = _open(device, "w", "speaker")
        self._stream = self._container.add_stream("pcm_s16le", rate=codec.SAMPLE_RATE)
        self._stream.layout = "mono"
        self._pts = 0

    def play(self, pcm: codec.PCM) -> None:
        import av

        if len(pcm) == 0:
            return
        frame = av.AudioFrame.from_ndarray(pcm.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = codec.SAMPLE_RATE
        frame.pts = self._pts
        self._pts += len(pcm)
        for p in self._stream.encode(frame):
            self._container.mux(p)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            for p in self._stream.encode(None):
                self._container.mux(p)
        self._container.close()
