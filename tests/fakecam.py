"""A Y4M clip for Chromium's fake webcam (--use-file-for-fake-video-capture), made of real photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image


def photo_frames(width: int = 640, height: int = 480) -> list[np.ndarray]:
    from skimage import data

    frames = []
    for photo in (data.astronaut(), data.coffee(), data.chelsea()):
        canvas = Image.fromarray(photo).resize((width, height), Image.BILINEAR)
        frames.append(np.asarray(canvas))
    return frames


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 10, repeat: int = 10) -> Path:
    """Each frame is held ``repeat`` times so the clip stays on one photo for a while."""
    height, width = frames[0].shape[:2]
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            i420 = cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()
            for _ in range(repeat):
                handle.write(b"FRAME\n")
                handle.write(i420)
    return path
