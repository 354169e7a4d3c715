from __future__ import annotations

import torch

from deployments.text.ngram import NgramLinear, hash_texts, ngram_counts


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
