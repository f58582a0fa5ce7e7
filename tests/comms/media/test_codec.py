"""Opus at constant bit-rate: packet sizes do not follow speech; espeak-ng speech survives the codec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dunpai.comms.media import codec
from dunpai.comms.media.speech import espeak_available, speak

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng not installed (scripts/system-deps.sh)")


def speech_and_silence() -> codec.PCM:
    t = np.arange(codec.SAMPLE_RATE) / codec.SAMPLE_RATE
    tone = (np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) * 12000).astype(np.int16)
    return np.concatenate([np.zeros(codec.SAMPLE_RATE // 2, dtype=np.int16), tone,
                           np.zeros(codec.SAMPLE_RATE // 2, dtype=np.int16)])


def test_cbr_packet_sizes_are_constant_through_silence_and_sound() -> None:
    packets = codec.encode_pcm(speech_and_silence())
    assert len(packets) >= 100
    assert {len(p) for p in packets} == {60}  # 24 kbit/s × 20 ms


@needs_espeak
def test_cbr_constant_for_real_speech() -> None:
    pcm = np.concatenate([speak("push to talk, over"), np.zeros(24_000, dtype=np.int16)])
    assert {len(p) for p in codec.encode_pcm(pcm)} == {60}


def test_frame_size_is_enforced() -> None:
    with pytest.raises(ValueError):
        codec.OpusEncoder().encode(np.zeros(100, dtype=np.int16))


@needs_espeak
def test_espeak_speech_fidelity_through_opus(tmp_path: Path) -> None:
    pcm = speak("Unit seven requesting the floor. Over.")
    out = codec.decode_packets(codec.encode_pcm(pcm))
    assert codec.similarity(pcm, out) > 0.8
    noise = np.random.default_rng(7).normal(0, 3000, len(pcm)).astype(np.int16)
    assert codec.similarity(pcm, noise) < 0.1
    codec.write_wav(tmp_path / "x.wav", out)
    back = codec.read_wav(tmp_path / "x.wav")
    assert np.array_equal(back, out)


def test_resample_and_wav_rates(tmp_path: Path) -> None:
    pcm = (np.sin(np.arange(22050) / 10) * 1000).astype(np.int16)
    codec.write_wav(tmp_path / "22k.wav", pcm, rate=22050)
    assert abs(len(codec.read_wav(tmp_path / "22k.wav")) - 48000) <= 1
