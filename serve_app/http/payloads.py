"""Base64 image payloads as clients send them, reduced to the base64 digits alone.

Clients send a bare payload, MIME-style base64 broken into 76-character lines (what many
encoders and ``base64`` on the command line write), or a browser's data URL
(``data:image/png;base64,...``). All three are one image; the decoder (strict, so that a
corrupted payload is refused rather than silently half-read) sees only the digits.
"""

from __future__ import annotations

import re

_DATA_URL_PREFIX = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,", re.IGNORECASE)


def base64_digits(payload: str) -> str:
    """``payload`` without a ``data:image/...;base64,`` prefix and without whitespace."""
    prefix = _DATA_URL_PREFIX.match(payload)
    if prefix is not None:
        payload = payload[prefix.end() :]
    return "".join(payload.split())
