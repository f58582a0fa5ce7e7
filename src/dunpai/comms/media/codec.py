"""Opus voice at a constant bit-rate (PyAV / libopus), plus mono 16-bit WAV reading and writing.

Constant bit-rate matters for privacy: with variable bit-rate, packet sizes follow the speech
(silence is small, vowels are large) and leak words through the encryption. With ``vbr=off`` and
no DTX every 20 ms packet has the same size (60 bytes at 24 kbit/s), silence included.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 48_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 960
BITRATE = 24_000
PCM = npt.NDArray[np.int16]


class OpusEncoder:
    """Mono 48 kHz Opus, 20 ms frames, constant bit-rate, VoIP mode."""

    def __init__(self, bitrate: int = BITRATE) -> None:
        import av

        self._ctx = av.CodecContext.create("libopus", "w")
        self._ctx.sample_rate = SAMPLE_RATE
        self._ctx.layout = "mono"
        self._ctx.format = "s16"
        self._ctx.bit_rate = bitrate
        self._ctx.options = {"vbr": "off", "application": "voip", "frame_duration": str(FRAME_MS)}
        self._ctx.open()
        self._pts = 0

    def encode(self, frame: PCM) -> list[bytes]:
        """Encode exactly one 20 ms frame (960 samples); returns the packets ready (0 or more)."""
        import av

        if frame.shape != (FRAME_SAMPLES,):
            raise ValueError(f"an Opus frame is {FRAME_SAMPLES} samples")
        af = av.AudioFrame.from_ndarray(frame.astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        af.sample_rate = SAMPLE_RATE
        af.pts = self._pts
        self._pts += FRAME_SAMPLES
        return [bytes(p) for p in self._ctx.encode(af)]

    def flush(self) -> list[bytes]:
        return [bytes(p) for p in self._ctx.encode(None)]


class OpusDecoder:
    def __init__(self) -> None:
        import av

        self._ctx = av.CodecContext.create("opus", "r")
        self._ctx.sample_rate = SAMPLE_RATE
        self._ctx.layout = "mono"
        self.invalid = 0

    def decode(self, packet: bytes) -> PCM:
        import av

        try:
            out = [f.to_ndarray() for f in self._ctx.decode(av.Packet(packet))]
        except av.error.FFmpegError:  # not an Opus packet: conceal with one frame of silence
            self.invalid += 1
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        if not out:
            return np.zeros(0, dtype=np.int16)
        pcm = np.concatenate([o.reshape(-1) for o in out])
        if pcm.dtype.kind == "f":
            return np.clip(pcm * 32767.0, -32768, 32767).astype(np.int16)
        return pcm.astype(np.int16)


def frames_of(pcm: PCM) -> Iterator[PCM]:
    """Split into 20 ms frames, zero-padding the last one."""
    n = -(-len(pcm) // FRAME_SAMPLES) * FRAME_SAMPLES
    padded = np.zeros(n, dtype=np.int16)
    padded[: len(pcm)] = pcm
    for i in range(0, n, FRAME_SAMPLES):
        yield padded[i : i + FRAME_SAMPLES]


def encode_pcm(pcm: PCM, bitrate: int = BITRATE) -> list[bytes]:
    enc = OpusEncoder(bitrate)
    packets: list[bytes] = []
    for f in frames_of(pcm):
        packets += enc.encode(f)
    return packets + enc.flush()


def decode_packets(packets: list[bytes]) -> PCM:
    dec = OpusDecoder()
    parts = [dec.decode(p) for p in packets]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def resample(pcm: PCM, rate: int, to_rate: int = SAMPLE_RATE) -> PCM:
    """Linear-interpolation resampling (enough for speech from a TTS engine)."""
    if rate == to_rate or len(pcm) == 0:
        return pcm
    n = round(len(pcm) * to_rate / rate)
    x = np.linspace(0, len(pcm) - 1, n)
    return np.interp(x, np.arange(len(pcm)), pcm.astype(np.float64)).astype(np.int16)


def read_wav(path: Path) -> PCM:
    """A mono 16-bit WAV at any rate, resampled to 48 kHz (the first channel if stereo)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit PCM WAV is supported")
        raw = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        pcm = raw[:: w.getnchannels()].astype(np.int16)
        return resample(pcm, w.getframerate())


def write_wav(path: Path, pcm: PCM, rate: int = SAMPLE_RATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


def similarity(sent: PCM, received: PCM, max_lag: int = 4_800) -> float:
    """Peak normalised cross-correlation (about 0…1) over lags 0…``max_lag`` (the codec's delay)."""
    a = sent.astype(np.float64)
    b = received.astype(np.float64)
    n = min(len(a), len(b))
    if n <= FRAME_SAMPLES:
        return 0.0
    a, b = a[:n], b[: n + max_lag] if len(b) > n else b[:n]
    size = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(b, size) * np.conj(np.fft.rfft(a, size)), size)[: max_lag + 1]
    den = float(np.sqrt(np.dot(a, a) * np.dot(b[:n], b[:n])))
    return float(corr.max() / den) if den > 0 else 0.0
