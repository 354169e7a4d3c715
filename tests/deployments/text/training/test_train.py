"""Training-side helpers that need no data or encoder: the identity-swap augmentation, the
cross-set negatives, the base-rate shift, the operating points and the advertised set."""

from __future__ import annotations

import random
from types import MappingProxyType

import numpy as np
import pytest
import torch

from deployments.text.model import POOLED, combine
from deployments.text.training.data import Example, text_key
from deployments.text.training.train import (
    NARROW_SHARE,
    TrainConfig,
    advertise,
    advertised_review,
    combiner_weights,
    cross_set_negatives,
    fit_combiner,
    harmless_sentences,
    identity_swaps,
    operating_points,
    shift_to_base_rate,
    swap_identities,
)


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


def test_english_rows_naming_an_identity_are_augmented_and_validation_texts_excluded() -> None:
    rows = [
        example("My Muslim neighbour lent me a ladder.", {"toxicity": 0.0}),
        example("Muslims are vermin.", {"toxicity": 1.0, "identity_attack": 1.0}),
        example("Meine Muslim Nachbarin", {"toxicity": 0.0}, language="de"),
        example("The weather is nice.", {"toxicity": 0.0}),
        example("Jews were at the picnic.", {"sexual": 0.0}),
    ]
    out = identity_swaps(rows, copies=2, seed=13, exclude=set())
    assert len(out) == 4  # the harmless row and the hateful one, twice each
    assert all(e.handmade and e.split == "train" and e.source == "augment/identity-swap"
               for e in out)
    assert all("Muslim" not in e.text for e in out)
    assert [e.text.endswith(" are vermin.") for e in out] == [False, False, True, True]
    assert [e.labels for e in out] == [rows[0].labels] * 2 + [rows[1].labels] * 2
    assert identity_swaps(rows, copies=2, seed=13, exclude=set()) == out  # seeded
    assert identity_swaps(rows, 0, 13, set()) == []
    excluded = identity_swaps(rows, 2, 13, exclude={text_key(e.text) for e in out})
    assert excluded == []


def row(text: str, source: str, labels: dict[str, float]) -> Example:
    return Example(text, source, "en", "train", MappingProxyType(labels))


def test_cross_set_negatives_are_added_only_where_sound() -> None:
    rows = [
        row("buy cheap pills now", "sms", {"spam": 1.0}),
        row("see you at lunch", "sms", {"spam": 0.0}),
        row("i want to end it all", "suicide", {"self_harm": 1.0}),
        row("you people are vermin", "hate", {"identity_attack": 1.0}),
        row("go kill yourself", "hate", {"identity_attack": 0.0}),  # the lexicon's self-harm
        row("I will find you", "threats", {"threat": 1.0}),
        row("nice photo", "lewd", {"sexual": 0.0}),
        row("free STD tests at the clinic", "sms", {"spam": 0.0}),  # a sexual topic word
    ]
    out = {(e.source, e.text): dict(e.labels) for e in cross_set_negatives(rows)}
    # an SMS is no self-harm, a suicide post no spam, a hate post neither
    assert out["sms", "see you at lunch"]["self_harm"] == 0.0
    assert out["suicide", "i want to end it all"]["spam"] == 0.0
    assert out["hate", "you people are vermin"] == {
        "identity_attack": 1.0, "self_harm": 0.0, "spam": 0.0, "illicit": 0.0,
        "sexual_minors": 0.0}
    # a set keeps its own labels: spam rows get no spam label from elsewhere
    assert out["sms", "buy cheap pills now"]["spam"] == 1.0
    # the lexicon finds self-harm words: left unknown, not a negative
    assert "self_harm" not in out["hate", "go kill yourself"]
    # a threat is related to self-harm and illicit requests: both stay unknown
    assert "self_harm" not in out["threats", "I will find you"]
    assert "illicit" not in out["threats", "I will find you"]
    # not sexual, so not sexual content involving minors
    assert out["lewd", "nice photo"]["sexual_minors"] == 0.0
    # a harmless SMS is no sexual content; spam and abuse can be, so they stay unknown
    assert out["sms", "see you at lunch"]["sexual"] == 0.0
    assert "sexual" not in out["sms", "buy cheap pills now"]
    assert "sexual" not in out["threats", "I will find you"]
    # the topic words (train.TOPICS) leave a harmless post unknown too, not only the lexicon's
    # (both texts are in the one in NARROW_SHARE["sexual"] that can become sexual negatives)
    assert "sexual" not in out["sms", "free STD tests at the clinic"]
    assert out["sms", "free STD tests at the clinic"]["self_harm"] == 0.0


def test_only_a_share_of_the_harmless_posts_become_sexual_negatives() -> None:
    rows = [row(f"see you at {n} o'clock", "sms", {"spam": 0.0}) for n in range(500)]
    out = cross_set_negatives(rows)
    assert all(e.labels["self_harm"] == 0.0 for e in out)  # no share for self_harm
    sexual = sum("sexual" in e.labels for e in out)
    assert 500 / NARROW_SHARE["sexual"] * 0.7 < sexual < 500 / NARROW_SHARE["sexual"] * 1.3


def test_the_sentences_of_harmless_long_posts_become_harmless_rows() -> None:
    harmless = "We met at the market on Sunday. " * 10 + "I get it.\nThanks, all!"
    rows = [
        row(harmless, "forum", {"toxicity": 0.0, "spam": 0.0}),
        row("Short and harmless. Nothing to split.", "forum", {"toxicity": 0.0}),
        row(harmless + " You are all idiots.", "forum", {"toxicity": 1.0}),
        row(harmless + " I cannot go on.", "depression", {"self_harm": 0.0}),
    ]
    native = {"forum": {"toxicity", "spam"}, "depression": {"self_harm"}}
    out = harmless_sentences(rows, native, exclude={text_key("Thanks, all!")})
    assert [e.text for e in out] == ["We met at the market on Sunday.", "I get it."]
    assert all(e.labels == {"toxicity": 0.0, "spam": 0.0} and e.handmade for e in out)


def test_the_base_rate_shift_moves_the_bias_only() -> None:
    combiner = torch.tensor([[1.0, 0.5, 0.0], [2.0, 1.0, -1.0]])
    y = np.array([[1.0, 0.0], [0.0, np.nan], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    shifted = shift_to_base_rate(combiner, y, base_rate=0.05)
    assert torch.equal(shifted[:, :-1], combiner[:, :-1])
    logit = np.log(0.05 / 0.95)
    assert shifted[0, -1].item() == pytest.approx(logit - 0.0)  # prior 0.5: log-odds 0
    assert shifted[1, -1].item() == pytest.approx(-1.0 + logit - np.log(1 / 2))  # prior 1/3


def test_the_combiner_stacks_the_abuse_categories_only() -> None:
    # Two components, three categories: insult's label is what the toxicity logits say, so a
    # stacked insult combiner learns from them; self_harm may read only its own logits.
    rng = np.random.default_rng(0)
    logits = [torch.from_numpy(rng.normal(size=(2_000, 3)).astype(np.float32)) for _ in range(2)]
    signal = (logits[0][:, 0] + logits[1][:, 0]).numpy()
    y = np.stack([signal > 0, signal > 0.5, logits[0][:, 2].numpy() > 0], 1).astype(np.float32)
    y[::3, 1] = np.nan  # unlabelled rows do not count
    categories = ["toxicity", "insult", "self_harm"]
    combiner = fit_combiner(logits, y, categories, stacked_l2=0.02)
    assert combiner.shape == (3, 2 * 3 + 1)
    assert combiner[1, [0, 3]].min() > 0.5  # insult reads both components' toxicity logit
    assert torch.all(combiner[2, [0, 1, 3, 4]] == 0)  # self_harm: only columns 2 and 5
    assert combiner[2, 2] > 0.5
    probs = combine(combiner, logits)
    assert ((probs[:, 1] > 0.5).numpy() == (signal > 0.5))[~np.isnan(y[:, 1])].mean() > 0.9
    named = combiner_weights(combiner, ["use_head", "char_ngram"], categories)
    assert set(named["self_harm"]) == {"use_head", "char_ngram", "bias"}
    assert {"use_head/toxicity", "char_ngram/toxicity"} <= set(named["insult"])


def test_operating_points_hold_the_false_flag_budget() -> None:
    rng = np.random.default_rng(0)
    harmless = rng.uniform(0, 0.5, size=(10_000, 1))
    harmful = rng.uniform(0.5, 1.0, size=(500, 1))
    probs = np.concatenate([harmless, harmful]).astype(np.float32)
    y = np.concatenate([np.zeros((10_000, 1)), np.ones((500, 1))]).astype(np.float32)
    points = operating_points(probs, y, ["toxicity"], TrainConfig())["toxicity"]
    assert (harmless >= points["review"]).mean() <= 0.01
    assert (harmless >= points["block"]).mean() <= 0.001
    assert points["review"] < points["block"] < 0.5


def test_advertised_categories_keep_the_review_queue_within_budget() -> None:
    good = {"auroc": 0.95, "positives": 500}
    pooled = {c: good for c in "abcde"}
    pooled |= {"weak": {"auroc": 0.7, "positives": 500}, "rare": {"auroc": 0.99, "positives": 3}}
    flagged = {c: np.zeros(1000, dtype=bool) for c in "abcde"}
    flagged["a"][:18] = True  # 1.8 % of harmless posts
    flagged["b"][:10] = True  # 1.0 %, posts a flags already: the queue stays 1.8 %
    flagged["c"][100:125] = True  # 2.5 %: over the per-category budget
    flagged["d"][200:219] = True  # 1.9 %: the queue 3.7 %
    flagged["e"][300:316] = True  # 1.6 %: it would take the queue to 5.3 %
    cats = ["a", "b", "c", "d", "e", "weak", "rare", "missing"]
    chosen, withheld = advertise({POOLED: pooled}, cats, flagged)
    assert chosen == ["a", "b", "d"]
    assert withheld == {
        "c": "its review threshold flags 2.5% of harmless posts (> 2%)",
        "e": "with a, b, d it would send 5.3% of harmless posts to review (> 5%)",
        "weak": "validation AUROC 0.700 (< 0.85)",
        "rare": "3 validation positives (< 20)",
        "missing": "0 validation positives (< 20)",
    }
    assert advertise({POOLED: pooled}, ["e", "d", "a"], flagged)[0] == ["e", "d"]  # order decides


def test_a_category_is_advertised_at_the_policy_threshold_never_under_its_own_point() -> None:
    points = {"stale": 0.34, "hand_set": 0.26, "never": 0.5, "unlisted": 0.4, "rounded": 0.743}
    policy = {"stale": 0.22, "hand_set": 0.78, "never": None, "rounded": 0.74}
    assert advertised_review(policy, points) == {
        "stale": 0.34,  # set for the model before: re-derived before the artifact lands
        "hand_set": 0.78,
        "rounded": 0.74,  # the point written with two decimals: what the policy will do
        "never": None,
        "unlisted": 0.4,
    }
