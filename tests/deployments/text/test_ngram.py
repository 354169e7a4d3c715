from __future__ import annotations

import pytest
import torch

from deployments.text import ngram
from deployments.text.ngram import (
    NgramLinear,
    hash_text_reference,
    hash_texts,
    hash_words,
    ngram_counts,
    word_grams,
)


def test_ngrams_are_lowercased_and_padded() -> None:
    grams = ngram_counts("Hi  YOU")
    assert grams[" h"] == 1 and grams["hi y"] == 1 and grams["you "] == 1
    assert all(len(g) >= 2 for g in grams)


def test_hashing_is_stable_and_rows_are_unit_length() -> None:
    a = hash_texts(["you idiot", "hello"], 1024)
    b = hash_texts(["you idiot", "hello"], 1024)
    assert torch.equal(a.ids, b.ids) and torch.equal(a.offsets, b.offsets)
    first = a.weights[: int(a.offsets[1])]
    assert abs(float((first**2).sum()) - 1.0) < 1e-5


def test_empty_text_gives_an_empty_bag_and_the_bias() -> None:
    model = NgramLinear(64, 3)
    torch.nn.init.normal_(model.bag.weight)
    model.bias.data = torch.tensor([1.0, 2.0, 3.0])
    out = model(hash_texts(["", "abc"], 64))
    assert out.shape == (2, 3)
    assert torch.allclose(out[0], model.bias)
    assert not torch.allclose(out[1], model.bias)


def test_vectorised_hashing_matches_the_reference_definition() -> None:
    # ASCII, empty, one letter, 4-byte emoji, Cyrillic, CJK, a combining mark
    texts = ["You IDIOT!!", "", "   ", "a", "😀 ok 😀", "привет мир", "日本語の", "café e\u0301 x"]
    buckets = 1 << 18
    batch = hash_texts(texts, buckets)
    ends = [*batch.offsets[1:].tolist(), len(batch.ids)]
    for row, text in enumerate(texts):
        start, end = int(batch.offsets[row]), ends[row]
        ids, weights = batch.ids[start:end].tolist(), batch.weights[start:end].tolist()
        got = dict(zip(ids, weights, strict=True))
        want = hash_text_reference(text, buckets)
        assert list(got) == list(want), text  # same order: same float sums
        assert all(abs(got[k] - v) < 1e-6 for k, v in want.items()), text


def test_hashing_in_chunks_gives_the_same_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = ["one", "", "two words", "three"]
    whole = hash_texts(texts, 97)
    monkeypatch.setattr(ngram, "CHUNK_TEXTS", 1)
    chunked = hash_texts(texts, 97)
    assert torch.equal(whole.ids, chunked.ids) and torch.equal(whole.offsets, chunked.offsets)


def test_word_grams_are_words_and_pairs() -> None:
    assert word_grams("You  are, an IDIOT!") == [
        "you", "are", "an", "idiot", "you are", "are an", "an idiot"]


def test_hash_words_weights_each_text_like_the_char_model() -> None:
    batch = hash_words(["idiot idiot you", "", "hello"], 2**12)
    assert batch.offsets.tolist() == [0, 4, 4]  # idiot, you, idiot idiot, idiot you; none; one
    first = batch.weights[:4]
    assert abs(float((first**2).sum()) - 1.0) < 1e-6
    assert float(first.max()) == float(batch.weights[0])  # "idiot" twice weighs most
    model = NgramLinear(2**12, 3)
    assert model(batch).shape == (3, 3)
