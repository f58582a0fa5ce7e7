"""Video for calls: VP8 (libvpx, through PyAV), video files in and out, a test pattern, PSNR.

Frames are RGB ``H×W×3`` uint8 arrays. The encoder is tuned for real time (``deadline=realtime``,
no look-ahead, a key frame every second so a participant who joins late can start decoding).
Each encoded frame is split into fragments small enough for one relay media frame by
:mod:`dunpai.comms.media.call_media` and sealed like voice. Video packet sizes follow the picture
(no constant bit-rate): the relay can tell motion from stillness, never the picture.

Output files are lossless FFV1 in Matroska (``.mkv``), so what is written is exactly what the
receiver decoded.
"""

from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
DEFAULT_WIDTH, DEFAULT_HEIGHT = 320, 240
DEFAULT_FPS = 15
DEFAULT_BITRATE = 500_000
MAX_SIDE = 1920


def check_size(width: int, height: int) -> None:
    if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE) or width % 2 or height % 2:
        raise ValueError(f"video size: width and height must be even, 16 … {MAX_SIDE} (got {width}×{height})")


def check_fps(fps: float) -> None:
    if not 1 <= fps <= 60:
        raise ValueError(f"video fps must be 1 … 60 (got {fps})")


class VideoEncoder:
    """VP8, real time; ``encode`` takes one RGB frame of the configured size."""

    def __init__(self, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT, fps: int = DEFAULT_FPS,
                 bitrate: int = DEFAULT_BITRATE) -> None:
        import av

        check_size(width, height)
        check_fps(fps)
        self.width, self.height = width, height
        self._ctx = av.CodecContext.create("libvpx", "w")
        self._ctx.width, self._ctx.height = width, height
        self._ctx.pix_fmt = "yuv420p"
        self._ctx.time_base = fractions.Fraction(1, fps)
        self._ctx.framerate = fractions.Fraction(fps, 1)
        self._ctx.bit_rate = bitrate
        self._ctx.gop_size = fps
        self._ctx.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "error-resilient": "1"}
        self._ctx.open()
        self._pts = 0

    def encode(self, image: Image) -> list[tuple[bytes, bool]]:
        """(packet, is key frame) for each packet ready."""
        import av

        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(f"a video frame is {self.height}×{self.width}×3 uint8 RGB")
        frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = self._pts
        self._pts += 1
        return [(bytes(p), bool(p.is_keyframe)) for p in self._ctx.encode(frame)]

    def flush(self) -> list[tuple[bytes, bool]]:
        return [(bytes(p), bool(p.is_keyframe)) for p in self._ctx.encode(None)]


class VideoDecoder:
    def __init__(self) -> None:
        import av

        self._ctx = av.CodecContext.create("vp8", "r")
        self.invalid = 0

    def decode(self, packet: bytes) -> list[Image]:
        import av

        try:
            frames = self._ctx.decode(av.Packet(packet))
            return [f.to_ndarray(format="rgb24").astype(np.uint8, copy=False) for f in frames]
        except av.error.FFmpegError:  # not a VP8 frame (or one that depends on a lost one)
            self.invalid += 1
            return []


def decode_all(packets: list[bytes]) -> tuple[list[Image], int]:
    """Decoded frames and how many packets failed to decode."""
    dec = VideoDecoder()
    frames = [img for p in packets for img in dec.decode(p)]
    return frames, dec.invalid


def pattern_frames(frames: int, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT) -> list[Image]:
    """Moving colour gradients and a moving yellow square (deterministic)."""
    check_size(width, height)
    y, x = np.mgrid[0:height, 0:width]
    out = []
    side = max(8, height // 6)
    for i in range(frames):
        img = np.empty((height, width, 3), dtype=np.uint8)
        img[..., 0] = (x * 255 // width + i * 4) % 256
        img[..., 1] = (y * 255 // height + i * 2) % 256
        img[..., 2] = (128 + 60 * np.sin((x + y + i * 5) / 23.0)).astype(np.uint8)
        cx = (i * 7) % (width - side)
        cy = (height - side) // 2
        img[cy : cy + side, cx : cx + side] = (255, 255, 0)
        out.append(img)
    return out


def read_video(path: Path, width: int = DEFAULT_WIDTH, height: int = DEFAULT_HEIGHT,
               max_frames: int | None = None) -> tuple[list[Image], int]:
    """Frames of the first video stream of ``path``, scaled to ``width``×``height``, and its frame rate
    (rounded, 1 … 60)."""
    import av

    check_size(width, height)
    if not path.is_file():
        raise ValueError(f"video file {path} does not exist")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate or DEFAULT_FPS
            fps = min(60, max(1, round(float(rate))))
            frames: list[Image] = []
            for frame in container.decode(stream):
                rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
                frames.append(rgb.astype(np.uint8, copy=False))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except av.error.FFmpegError as exc:
        raise ValueError(f"{path} is not a readable video file ({type(exc).__name__})") from None
    return frames, fps


def write_video(path: Path, frames: list[Image], fps: int) -> None:
    """Lossless FFV1 in Matroska: the file holds exactly ``frames``."""
    import av

    if path.suffix.lower() != ".mkv":
        raise ValueError("video output must be a .mkv file (lossless FFV1)")
    check_fps(fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        if frames:
            stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "bgr0"
        for img in frames:
            for p in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(p)
        for p in stream.encode(None):
            container.mux(p)


def psnr(a: Image, b: Image) -> float:
    """Peak signal-to-noise ratio in dB (inf for identical frames)."""
    if a.shape != b.shape:
        raise ValueError("psnr: frames differ in size")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse))
