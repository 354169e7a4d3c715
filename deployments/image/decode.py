"""Refuse bad uploads cheaply, then decode the rest to RGB tensors.

Images come from untrusted clients. Everything that can be refused without touching pixels
(byte size, format by magic bytes, dimensions read from the header) is refused here first, so
a decompression bomb costs a header read rather than gigabytes of memory. Only then are pixels
decoded, with torchvision. Refusals are ``InputError``s: the client's fault, answered with 4xx.
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from PIL import Image
from torchvision.io import ImageReadMode, decode_image
from torchvision.transforms.v2 import functional as F

from deployments.signals import InputError

FIELD = "image_base64"
FORMATS: tuple[str, ...] = ("jpeg", "png", "webp", "gif")
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "gif": "GIF"}
_WEBP_ANIMATION_FLAG = 0x02

# What Pillow and torchvision raise on corrupt or truncated data (Pillow's plugins can leak
# struct.error, EOFError or SyntaxError from half-read headers).
_DECODER_ERRORS: tuple[type[BaseException], ...] = (
    RuntimeError,
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    struct.error,
    Image.DecompressionBombError,
)


class DecodeError(ValueError):
    """The bytes passed the header checks but their pixels cannot be decoded."""


@dataclass(frozen=True)
class ImageInfo:
    """What the header says about an image that passed the cheap checks."""

    format: str
    width: int
    height: int


def sniff_format(data: bytes) -> str | None:
    """The image format named by the magic bytes (never the file name), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return None


def check_image(data: bytes, *, max_bytes: int, max_pixels: int) -> InputError | ImageInfo:
    """Size, format and pixel-count checks that decode no pixels."""
    if len(data) > max_bytes:
        return _error(413, "image_too_large", f"image is {len(data)} bytes; limit {max_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        return _error(415, "unsupported_image_format", "image must be JPEG, PNG, WEBP or GIF")
    size = _header_size(data, fmt)
    if isinstance(size, InputError):
        return size
    width, height = size
    if width <= 0 or height <= 0:
        return _error(400, "invalid_image", f"image header gives a {width}x{height} image")
    if width * height > max_pixels:
        message = f"image is {width}x{height} pixels; limit {max_pixels} pixels"
        return _error(413, "image_too_many_pixels", message)
    return ImageInfo(format=fmt, width=width, height=height)


def decode_rgb(data: bytes) -> torch.Tensor:
    """Pixels as uint8 [3, H, W] (first frame of an animation); DecodeError if corrupt.

    Call only on bytes that passed ``check_image``: decoders allocate what the header asks.
    GIFs and animated WEBPs go through Pillow, which decodes the first frame alone, where
    torchvision would decode every frame (GIF) or refuse (animated WEBP).
    """
    fmt = sniff_format(data)
    try:
        if fmt == "gif" or (fmt == "webp" and _is_animated_webp(data)):
            image = _first_frame_with_pillow(data, fmt)
        else:
            encoded = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            image = decode_image(encoded, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except _DECODER_ERRORS as exc:
        raise DecodeError(f"cannot decode image: {exc}") from exc
    if image.dtype != torch.uint8:  # 16-bit PNGs decode to uint16
        image = F.to_dtype(image, torch.uint8, scale=True)
    return image


def _header_size(data: bytes, fmt: str) -> tuple[int, int] | InputError:
    if fmt == "webp":
        size = _webp_size(data)
        return size if size is not None else _error(400, "invalid_image", "bad WEBP header")
    try:
        with _no_bomb_warning(), Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[fmt]]) as im:
            return im.size
    except Image.DecompressionBombError as exc:
        return _error(413, "image_too_many_pixels", str(exc))
    except _DECODER_ERRORS as exc:
        return _error(400, "invalid_image", f"unreadable {fmt} header: {exc}")


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """Canvas size from the RIFF header.

    Parsed by hand because Pillow's WEBP opener hands the whole file to libwebp's animation
    decoder, which allocates two canvases of the declared size before anything is checked.
    """
    chunk, body = data[12:16], data[20:30]
    if len(body) < 10:
        return None
    if chunk == b"VP8X":
        return 1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little")
    if chunk == b"VP8L" and body[0] == 0x2F:
        bits = int.from_bytes(body[1:5], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _is_animated_webp(data: bytes) -> bool:
    return data[12:16] == b"VP8X" and len(data) > 20 and bool(data[20] & _WEBP_ANIMATION_FLAG)


def _first_frame_with_pillow(data: bytes, fmt: str) -> torch.Tensor:
    with _no_bomb_warning(), Image.open(io.BytesIO(data), formats=[_PILLOW_FORMATS[fmt]]) as im:
        tensor: torch.Tensor = F.pil_to_tensor(im.convert("RGB"))
    return tensor


@contextmanager
def _no_bomb_warning() -> Iterator[None]:
    # Pillow warns from 89M pixels; check_image has already applied our own, configured limit.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _error(status: int, code: str, message: str) -> InputError:
    return InputError(code=code, message=message, field=FIELD, status=status)
