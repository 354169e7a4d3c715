"""The regex fallback: obfuscation caught, identity words and Scunthorpe cases left alone."""

from __future__ import annotations

import asyncio

import pytest

from deployments.fallback.lexicon import (
    LexiconError,
    RegexScorer,
    parse_lexicon,
    term_pattern,
)
from deployments.signals import TEXT_CATEGORIES

SCORER = RegexScorer()
COVERED = {
    "toxicity",
    "insult",
    "profanity",
    "identity_attack",
    "threat",
    "self_harm",
    "sexual",
    "spam",
}


def scores(text: str) -> dict[str, float]:
    return SCORER.score([text])[0].scores


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("you are stupid", "insult"),
        ("st.upid", "insult"),
        ("s t u p i d", "insult"),
        ("stuuuupid", "insult"),
        ("STUPID", "insult"),
        ("1d10t", "insult"),
        ("f u c k", "profanity"),
        ("f.u.c.k", "profanity"),
        ("f_u_c_k", "profanity"),
        ("fuuuuck", "profanity"),
        ("fucking", "profanity"),
        ("sh!t", "profanity"),
        ("a$$hole", "profanity"),
        ("ｆｕｃｋ", "profanity"),  # fullwidth
        ("f\u200bu\u200bc\u200bk", "profanity"),  # zero-width spaces
        ("fu\u0441k", "profanity"),  # Cyrillic es
        ("fü\u0301ck", "profanity"),  # accents
        ("n1gg3r", "identity_attack"),
        ("muslims are vermin", "identity_attack"),
        ("I will kill you", "threat"),
        ("i w1ll k1ll y0u", "threat"),
        ("I'll kill you", "threat"),
        ("i am going to hurt you", "threat"),
        ("you should die", "threat"),
        ("I want to kill myself", "self_harm"),
        ("I w4nt to k1ll mys3lf", "self_harm"),  # "t0" stays: the normaliser reads a name
        ("send nudes", "sexual"),
        ("click here for free money", "spam"),
        ("cl1ck h3re", "spam"),
    ],
)
def test_obfuscated_variants_are_caught(text: str, category: str) -> None:
    assert scores(text)[category] >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "I am a gay man",
        "my Muslim neighbour is lovely",
        "As a trans woman I feel welcome here",
        "I'm a proud Black woman",
        "Jewish people celebrate Passover",
        "women are amazing engineers",
        "I killed it at the gym today",
        "I'll shoot you a message later",
        "I'm going to beat you at chess",
        "I could kill for a pizza",
        "please shut the door",
        "check out www.example.com",
        "I got 100% on the test",
        "summa cum laude",
        "tit for tat",
    ],
)
def test_benign_and_identity_sentences_are_not_flagged(text: str) -> None:
    result = scores(text)
    assert max(result.values()) < 0.5, result
    assert result["identity_attack"] == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "Scunthorpe",
        "class",
        "assess",
        "assassin",
        "cocktail",
        "Sussex",
        "shiitake",
        "therapist",
        "analysis",
        "as soon as possible",
        "Pakistan",
        "grape",
        "Penistone",
        "Dick Van Dyke",
    ],
)
def test_scunthorpe_cases_do_not_match(text: str) -> None:
    assert all(score == 0.0 for score in scores(text).values())


def test_every_advertised_category_is_scored() -> None:
    advertised = [info.name for info in SCORER.categories()]
    assert set(advertised) == COVERED
    assert set(advertised) <= set(TEXT_CATEGORIES)
    assert all(info.source == "lexicon" and info.modality == "text" for info in SCORER.categories())
    for signal in SCORER.score(["", "hello", "fuck you idiot"]):
        assert list(signal.scores) == advertised
        assert all(0.0 <= s <= 1.0 for s in signal.scores.values())


def test_signal_shape() -> None:
    (signal,) = SCORER.score(["you idiot"])
    assert (signal.analyzer, signal.modality, signal.degraded) == ("fallback", "text", True)
    assert signal.model_version == SCORER.version
    assert signal.details == {"lexicon": {"insult": 1.0, "toxicity": 1.0}}
    assert SCORER.score([]) == []


@pytest.mark.parametrize(
    ("text", "insult"),
    [("idiot", 0.5), ("idiot moron", 0.75), ("idiot moron dumb", 0.875), ("idiot " * 20, 0.95)],
)
def test_score_is_one_minus_half_to_the_matches_capped(text: str, insult: float) -> None:
    assert scores(text)["insult"] == pytest.approx(insult)


def test_toxicity_counts_hostile_categories_and_half_of_profanity() -> None:
    assert scores("you idiot")["toxicity"] == pytest.approx(0.5)
    assert scores("shit")["toxicity"] == pytest.approx(1 - 0.5**0.5, abs=1e-4)


@pytest.mark.parametrize(
    "disguised",
    ["F\u200bU\u00adC\u2060K", "ｆｕｃｋ", "f.u.c.k", "fu\u0301ck", "fυck", "FUUUCK"],
)
def test_the_lexicon_sees_through_what_the_normaliser_undoes(disguised: str) -> None:
    assert scores(disguised)["profanity"] > 0


def test_term_pattern_keeps_double_letters() -> None:
    import re2

    pattern = re2.compile(term_pattern("ass"))
    assert pattern.search("a s s") and pattern.search("asss") and pattern.search("asses")
    assert not pattern.search("as") and not pattern.search("class")


@pytest.mark.parametrize(
    ("lexicon", "message"),
    [
        ("idiot\n", "line 1: term before any"),
        ("[nudity]\nx\n", "line 1: no description"),
        ("[insult]\nre:(unclosed\n", "line 2"),
        ("[insult]\nidiot weight=heavy\n", "line 2: bad weight"),
        ("[insult]\n!!!\n", "has no letters"),
    ],
)
def test_malformed_lexicon_is_refused(lexicon: str, message: str) -> None:
    with pytest.raises(LexiconError, match=message):
        parse_lexicon(lexicon)


def test_deployment_wraps_the_scorer() -> None:
    from deployments.fallback.deployment import RegexFallback

    replica = RegexFallback.func_or_class()  # type: ignore[attr-defined]
    assert [c.name for c in replica.categories()] == [c.name for c in SCORER.categories()]
    signal = asyncio.run(replica.score("you idiot"))
    assert signal == SCORER.score(["you idiot"])[0]
