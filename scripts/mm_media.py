"""Small images and videos made locally, and OpenAI-style data URLs for them."""

from __future__ import annotations

import base64
import io

import av
import cv2
import numpy as np
import numpy.typing as npt

# BGR is OpenCV's order; these are RGB.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 180, 20),
    "blue": (20, 40, 220),
    "yellow": (235, 220, 20),
}


def square_image(
    colour: str = "red", size: int = 64, square: int = 32, offset: int = 16
) -> npt.NDArray[np.uint8]:
    """RGB image: a filled square of a named colour on white."""
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; known: {sorted(COLOURS)}")
    if not 0 <= offset <= size - square:
        raise ValueError(f"square {square} at {offset} does not fit in {size}")
    img = np.full((size, size, 3), 255, dtype=np.uint8)
    img[offset : offset + square, offset : offset + square] = COLOURS[colour]
    return img


def png_bytes(rgb: npt.NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("OpenCV could not encode the image as PNG")
    return buf.tobytes()


def moving_square_frames(
    num_frames: int = 8, size: int = 64, square: int = 16, colour: str = "blue"
) -> npt.NDArray[np.uint8]:
    """(T, H, W, 3) RGB frames of a square moving left to right."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    frames = np.full((num_frames, size, size, 3), 255, dtype=np.uint8)
    step = (size - square) / max(num_frames - 1, 1)
    top = (size - square) // 2
    for t in range(num_frames):
        left = round(t * step)
        frames[t, top : top + square, left : left + square] = COLOURS[colour]
    return frames


def mp4_bytes(frames: npt.NDArray[np.uint8], fps: int = 4) -> bytes:
    """Encode RGB frames as MPEG-4 Part 2 in an MP4 container with PyAV."""
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
    _, height, width, _ = frames.shape
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(video_frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_part(png: bytes) -> dict[str, object]:
    return {"type": "image_url", "image_url": {"url": data_url("image/png", png)}}


def video_part(mp4: bytes) -> dict[str, object]:
    return {"type": "video_url", "video_url": {"url": data_url("video/mp4", mp4)}}
