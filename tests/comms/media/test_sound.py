"""The optional sound device: a clear error where there is none; capture and playback where there is."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dunpai.comms.media import codec
from dunpai.comms.media.sound import (
    NoSoundDevice,
    Speaker,
    microphone_frames,
    require_sound_device,
    sound_device_present,
)

NO_DEVICE = not sound_device_present()


def test_device_detection_follows_the_alsa_device_nodes(tmp_path: Path) -> None:
    assert not sound_device_present(tmp_path / "missing")
    (tmp_path / "snd").mkdir()
    (tmp_path / "snd" / "controlC0").touch()
    assert not sound_device_present(tmp_path / "snd")  # a control node alone plays nothing
    with pytest.raises(NoSoundDevice, match=r"no sound device for the speaker.*--wav"):
        require_sound_device("speaker", tmp_path / "snd")
    (tmp_path / "snd" / "pcmC0D0p").touch()
    assert sound_device_present(tmp_path / "snd")
    require_sound_device("speaker", tmp_path / "snd")


@pytest.mark.skipif(not NO_DEVICE, reason="this machine has a sound device")
@pytest.mark.skipif(not NO_DEVICE, reason="this machine has a sound device: the no-device error cannot occur")
def test_no_device_microphone_and_speaker_raise_clearly() -> None:
    async def first_frame() -> None:
        async for _ in microphone_frames(0.1):
            break

    with pytest.raises(NoSoundDevice, match="microphone") as exc:
        asyncio.run(first_frame())
    assert exc.value.code == "no_sound_device"
    with pytest.raises(NoSoundDevice, match="speaker"):
        Speaker()


@pytest.mark.skipif(NO_DEVICE, reason="no sound device on this machine (no ALSA PCM node in /dev/snd)")
def test_device_capture_and_playback() -> None:
    async def capture() -> list[codec.PCM]:
        return [f async for f in microphone_frames(0.2)]

    frames = asyncio.run(capture())
    assert frames and all(f.shape == (codec.FRAME_SAMPLES,) for f in frames)
    speaker = Speaker()
    try:
        for f in frames:
            speaker.play(f)
    finally:
        speaker.close()
