"""The one image loader, on a corpus of odd and broken files the test makes itself."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cvdemo.images import TRANSPARENT_BACKGROUND, ImageLoadError, array_to_rgb, load_image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return data.astronaut()[::4, ::4].copy()  # 128×128 RGB


def test_rgb_png_round_trips_exactly(photo):
    assert np.array_equal(load_image(encode(Image.fromarray(photo), "PNG")), photo)


def test_zero_bytes_is_a_clear_error():
    with pytest.raises(ImageLoadError, match="empty"):
        load_image(b"", name="nothing.jpg")


def test_truncated_jpeg_is_a_clear_error(photo):
    data = encode(Image.fromarray(photo), "JPEG", quality=90)
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(data[: len(data) // 2], name="half.jpg")


def test_text_named_jpg_is_not_an_image():
    with pytest.raises(ImageLoadError, match="not an image"):
        load_image(b"hello, this is a text file\n" * 20, name="notes.jpg")


def test_missing_path(tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(tmp_path / "absent.png")


def test_png_with_alpha_is_composited_over_neutral_grey():
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[..., 0] = 255  # pure red hides under fully transparent pixels
    rgba[:4, :, 3] = 255  # top half opaque
    rgb = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert rgb.shape == (8, 8, 3)
    assert tuple(rgb[0, 0]) == (255, 0, 0)
    assert tuple(rgb[7, 7]) == TRANSPARENT_BACKGROUND  # not the hidden red


def test_half_transparent_pixels_blend():
    rgba = np.full((2, 2, 4), (255, 255, 255, 128), dtype=np.uint8)
    rgb = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    expected = round(255 * 128 / 255 + 128 * (1 - 128 / 255))
    assert abs(int(rgb[0, 0, 0]) - expected) <= 1


def test_16_bit_png_is_scaled_not_clipped():
    ramp = np.linspace(0, 65535, 256, dtype=np.uint16).reshape(16, 16)
    image = Image.fromarray(ramp)  # mode I;16
    rgb = load_image(encode(image, "PNG"))
    assert rgb.shape == (16, 16, 3)
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    # mid-grey stays mid-grey (convert("RGB") would clip it to white)
    mid = rgb.reshape(-1, 3)[128, 0]
    assert 120 <= mid <= 135
    assert len(np.unique(rgb[..., 0])) > 200


def test_cmyk_jpeg_comes_back_in_the_right_colours(photo):
    cmyk = Image.fromarray(photo).convert("CMYK")
    rgb = load_image(encode(cmyk, "JPEG", quality=95))
    assert rgb.shape == photo.shape
    assert np.abs(rgb.astype(int) - photo.astype(int)).mean() < 8


def test_grayscale_becomes_three_equal_channels(photo):
    gray = Image.fromarray(photo).convert("L")
    rgb = load_image(encode(gray, "PNG"))
    assert rgb.shape == photo.shape
    assert np.array_equal(rgb[..., 0], np.asarray(gray)) and np.array_equal(rgb[..., 0], rgb[..., 2])


def test_palette_gif(photo):
    palette = Image.fromarray(photo).convert("P", palette=Image.ADAPTIVE, colors=64)
    rgb = load_image(encode(palette, "GIF"))
    assert np.array_equal(rgb, np.asarray(palette.convert("RGB")))


def test_animated_gif_gives_the_first_frame():
    frames = [Image.new("RGB", (10, 10), colour) for colour in [(255, 0, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    rgb = load_image(buffer.getvalue())
    assert tuple(rgb[5, 5]) == (255, 0, 0)


def test_exif_rotation_is_applied():
    tall = np.zeros((40, 20, 3), dtype=np.uint8)
    tall[:10] = 255  # white band at the top of the stored pixels
    image = Image.fromarray(tall)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rgb = load_image(encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert rgb.shape == (20, 40, 3)  # displayed landscape
    assert rgb[:, -10:].mean() > 200 and rgb[:, :10].mean() < 50  # top band now on the right


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


def test_decompression_bomb_header_is_refused_before_decoding():
    with pytest.raises(ImageLoadError, match="30000×30000|too many pixels"):
        load_image(_png_header_only(30000, 30000), name="bomb.png")


def test_too_many_bytes(monkeypatch):
    import cvdemo.images as images

    monkeypatch.setattr(images, "MAX_BYTES", 1000)
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(b"\x00" * 2000, name="big.bin")


def test_arrays_from_cameras():
    bgr = np.zeros((4, 4, 3), dtype=np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV order
    assert tuple(array_to_rgb(bgr, channel_order="bgr")[0, 0]) == (0, 0, 255)
    assert array_to_rgb(np.full((3, 3), 65535, dtype=np.uint16))[0, 0, 0] == 255
    assert array_to_rgb(np.full((3, 3, 3), 0.5, dtype=np.float32))[0, 0, 0] == 128
    with pytest.raises(ImageLoadError):
        array_to_rgb(np.zeros((4, 4, 2), dtype=np.uint8))


def test_uploads_with_the_same_name_get_distinct_names():
    from cvdemo.images import distinct_names

    assert distinct_names(["a.jpg", "b.jpg", "a.jpg", "a.jpg"]) == ["a.jpg", "b.jpg", "a (2).jpg", "a (3).jpg"]
    assert distinct_names(["a (2).jpg", "a.jpg", "a.jpg"]) == ["a (2).jpg", "a.jpg", "a (3).jpg"]
    assert distinct_names(["notes", "notes", ".png", ".png"]) == ["notes", "notes (2)", ".png", ".png (2)"]


def test_large_photos_are_shrunk_to_a_longest_side_and_small_ones_kept():
    from cvdemo.images import fit_longest_side

    wide = np.zeros((3000, 4000, 3), np.uint8)
    assert fit_longest_side(wide, 640).shape == (480, 640, 3)
    strip = np.zeros((1, 5000, 3), np.uint8)
    assert fit_longest_side(strip, 640).shape == (1, 640, 3)  # never a side of 0 pixels
    small = np.zeros((100, 80, 3), np.uint8)
    assert fit_longest_side(small, 640) is small
