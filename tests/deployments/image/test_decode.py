"""Cheap checks and decoding, on images drawn here with Pillow (nothing is downloaded)."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deployments.image.decode import (
    DecodeError,
    ImageInfo,
    check_image,
    decode_rgb,
    sniff_format,
)
from deployments.signals import InputError

FORMATS = ("jpeg", "png", "webp", "gif")
LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_pixels": 40_000_000}


def checkerboard(width: int = 96, height: int = 64, square: int = 8) -> Image.Image:
    ys, xs = np.indices((height, width))
    board = ((xs // square + ys // square) % 2 * 255).astype(np.uint8)
    return Image.fromarray(np.stack([board, 255 - board, board // 2], axis=-1))


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt.upper(), **options)
    return buffer.getvalue()


def animation(fmt: str) -> bytes:
    """Three 40x30 frames: white, black, white."""
    frames = [Image.new("RGB", (40, 30), (v, v, v)) for v in (255, 0, 255)]
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def png_bomb(side: int = 20_000) -> bytes:
    """A valid 1-bit side x side PNG of zeros: ~50 KB of file, side**2 pixels once decoded."""
    row = bytes(1 + side // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND")


def _chunk(kind: bytes, body: bytes = b"") -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _refusal(result: InputError | ImageInfo) -> tuple[int, str, str]:
    assert isinstance(result, InputError), result
    return result.status, result.code, result.field


@pytest.mark.parametrize("fmt", FORMATS)
def test_sniff_format_by_magic_bytes(fmt: str) -> None:
    assert sniff_format(encode(checkerboard(), fmt)) == fmt


def test_file_name_does_not_matter(tmp_path: Path) -> None:
    misnamed = tmp_path / "photo.jpg"
    misnamed.write_bytes(encode(checkerboard(), "png"))
    assert sniff_format(misnamed.read_bytes()) == "png"


@pytest.mark.parametrize("data", [b"hello, this is text", b"", b"BM\x00\x00", b"RIFF1234WAVE"])
def test_other_bytes_are_refused_with_415(data: bytes) -> None:
    assert sniff_format(data) is None
    assert _refusal(check_image(data, **LIMITS)) == (
        415,
        "unsupported_image_format",
        "image_base64",
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_header_gives_size_without_decoding(fmt: str) -> None:
    info = check_image(encode(checkerboard(96, 64), fmt), **LIMITS)
    assert info == ImageInfo(format=fmt, width=96, height=64)


@pytest.mark.parametrize(
    ("mode", "options"),
    [("RGB", {}), ("RGB", {"lossless": True}), ("RGBA", {}), ("RGBA", {"lossless": True})],
)
def test_every_webp_header_kind_gives_its_size(mode: str, options: dict[str, object]) -> None:
    image = checkerboard(96, 64).convert(mode)
    if mode == "RGBA":
        image.putalpha(128)  # real transparency: lossy WEBP then needs the extended (VP8X) header
    data = encode(image, "webp", **options)
    assert check_image(data, **LIMITS) == ImageInfo(format="webp", width=96, height=64)


def test_byte_limit_is_413() -> None:
    data = encode(checkerboard(), "png")
    result = check_image(data, max_bytes=len(data) - 1, max_pixels=40_000_000)
    assert _refusal(result) == (413, "image_too_large", "image_base64")


@pytest.mark.parametrize("fmt", FORMATS)
def test_pixel_limit_is_413(fmt: str) -> None:
    result = check_image(encode(checkerboard(96, 64), fmt), max_bytes=10**7, max_pixels=96 * 63)
    assert _refusal(result) == (413, "image_too_many_pixels", "image_base64")


def test_decompression_bomb_is_refused_from_the_header_fast() -> None:
    bomb = png_bomb()
    assert len(bomb) < 100_000
    start = time.perf_counter()
    result = check_image(bomb, **LIMITS)
    assert time.perf_counter() - start < 0.5
    assert _refusal(result) == (413, "image_too_many_pixels", "image_base64")


def test_bomb_below_pillows_own_limit_is_refused_by_ours() -> None:
    result = check_image(png_bomb(8_000), **LIMITS)  # 64M pixels: Pillow only warns
    assert _refusal(result) == (413, "image_too_many_pixels", "image_base64")


def test_huge_webp_canvas_is_refused_from_the_header() -> None:
    # A VP8X header declaring a 16384x16384 canvas, with no image data behind it.
    body = bytes([0x02, 0, 0, 0]) + (16383).to_bytes(3, "little") * 2
    data = b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBP" + b"VP8X"
    data += struct.pack("<I", len(body)) + body
    assert _refusal(check_image(data, **LIMITS))[:2] == (413, "image_too_many_pixels")


@pytest.mark.parametrize("fmt", FORMATS)
def test_unreadable_header_is_400(fmt: str) -> None:
    data = encode(checkerboard(), fmt)[:12] + b"\x00" * 8
    assert _refusal(check_image(data, **LIMITS)) == (400, "invalid_image", "image_base64")


@pytest.mark.parametrize("fmt", FORMATS)
def test_decode_rgb_gives_uint8_chw(fmt: str) -> None:
    image = decode_rgb(encode(checkerboard(96, 64), fmt))
    assert image.dtype == torch.uint8
    assert image.shape == (3, 64, 96)


@pytest.mark.parametrize("fmt", ["png", "webp", "gif"])
def test_decode_rgb_is_faithful_for_lossless_formats(fmt: str) -> None:
    board = checkerboard(96, 64).convert("P").convert("RGB") if fmt == "gif" else checkerboard()
    options = {"lossless": True} if fmt == "webp" else {}
    expected = torch.from_numpy(np.asarray(board)).permute(2, 0, 1)
    assert torch.equal(decode_rgb(encode(board, fmt, **options)), expected)


@pytest.mark.parametrize("fmt", ["gif", "webp"])
def test_animation_decodes_its_first_frame(fmt: str) -> None:
    data = animation(fmt)
    assert check_image(data, **LIMITS) == ImageInfo(format=fmt, width=40, height=30)
    image = decode_rgb(data)
    assert image.shape == (3, 30, 40)
    assert image.float().mean() > 250  # the white frame, not the black one


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16"])
def test_other_colour_modes_become_rgb(mode: str) -> None:
    image = decode_rgb(encode(checkerboard().convert(mode), "png"))
    assert image.dtype == torch.uint8
    assert image.shape == (3, 64, 96)


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_image_raises_decode_error(fmt: str) -> None:
    data = encode(checkerboard(), fmt)
    assert isinstance(check_image(data[: len(data) // 2], **LIMITS), ImageInfo)
    with pytest.raises(DecodeError):
        decode_rgb(data[: len(data) // 2])
