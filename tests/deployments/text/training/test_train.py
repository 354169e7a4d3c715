"""Training-side helpers that need no data or encoder: the identity-swap augmentation."""

from __future__ import annotations

import random
from types import MappingProxyType

import pytest

from deployments.text.training.data import Example, text_key
from deployments.text.training.train import identity_swaps, swap_identities


def example(text: str, labels: dict[str, float], language: str = "en") -> Example:
    return Example(text, "set-a", language, "train", MappingProxyType(labels))


@pytest.mark.parametrize(
    ("text", "unchanged"),
    [
        ("My gay friend cooked dinner.", "My  friend cooked dinner."),
        ("Muslims and Jews shared the stage.", " and  shared the stage."),
        ("Black people organised the march.", " people organised the march."),
    ],
)
def test_swap_replaces_only_the_identity_terms(text: str, unchanged: str) -> None:
    swapped = swap_identities(text, random.Random(0))
    assert swapped != text
    for word in unchanged.split():
        assert word in swapped


def test_swap_keeps_ambiguous_words_outside_identity_use_and_is_consistent() -> None:
    rng = random.Random(0)
    assert swap_identities("I drink black coffee and wear white shoes.", rng) == (
        "I drink black coffee and wear white shoes.")
    swapped = swap_identities("gay bar, gay pride, Gay Street", rng)
    first, second, third = (part.split()[0] for part in swapped.split(", "))
    assert first == second and third.lower() == first.lower() and third[0].isupper()


def test_only_harmless_english_rows_are_augmented_and_validation_texts_are_excluded() -> None:
    rows = [
        example("My Muslim neighbour lent me a ladder.", {"toxicity": 0.0}),
        example("Muslims are vermin.", {"toxicity": 1.0, "identity_attack": 1.0}),
        example("Meine Muslim Nachbarin", {"toxicity": 0.0}, language="de"),
        example("The weather is nice.", {"toxicity": 0.0}),
        example("Jews were at the picnic.", {"identity_attack": 0.0, "insult": 1.0}),
    ]
    out = identity_swaps(rows, copies=2, seed=13, exclude=set())
    assert len(out) == 2
    assert all(e.handmade and e.split == "train" and e.source == "augment/identity-swap"
               for e in out)
    assert all("Muslim" not in e.text and "neighbour lent me" in e.text for e in out)
    assert out[0].labels == rows[0].labels
    assert identity_swaps(rows, copies=2, seed=13, exclude=set()) == out  # seeded
    assert identity_swaps(rows, 0, 13, set()) == []
    excluded = identity_swaps(rows, 2, 13, exclude={text_key(e.text) for e in out})
    assert excluded == []
