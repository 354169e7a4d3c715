"""The obfuscation generator: each transform disguises, stays seeded, and picks telling words."""

from __future__ import annotations

import random

import pytest

from deployments.normalize import normalize
from deployments.text.training import obfuscate as ob

WORDS = ["stupid", "idiot", "kill", "bitch", "Muslims", "whore"]


@pytest.mark.parametrize("name", list(ob.ALL_TRANSFORMS))
def test_every_transform_changes_every_word_and_is_seeded(name: str) -> None:
    transform = ob.ALL_TRANSFORMS[name]
    for word in WORDS:
        out = transform(word, random.Random(f"7/{word}"))
        assert out != word, (name, word)
        assert transform(word, random.Random(f"7/{word}")) == out


@pytest.mark.parametrize(
    "name", ["spaced", "homoglyph", "zero_width", "combining", "wide", "leet", "inner_punct"]
)
def test_the_normaliser_undoes_most_disguises(name: str) -> None:
    # The ratio evaluation measures the model; this pins the normaliser's share of it. Known
    # misses ("f*ucking", "hell0"-shaped leet) keep these below 100%.
    undone = total = 0
    for seed in range(30):
        for word in WORDS:
            disguised = ob.ALL_TRANSFORMS[name](word, random.Random(f"{seed}/{word}"))
            undone += normalize(f"you are {disguised} ok") == f"you are {word} ok"
            total += 1
    assert undone / total >= 0.8, f"{name}: {undone}/{total}"


def test_repeat_holds_letters_down() -> None:
    out = ob.repeat("stupid", random.Random(1))
    assert len(out) >= len("stupid") + 2 and out.replace(out[0], "") != ""


def test_salient_words_are_the_ones_that_separate_the_classes() -> None:
    rows = [(f"you stupid fool number {i}", {"insult": 1.0}) for i in range(30)]
    rows += [(f"you are a fool on the hill number {i}", {"insult": 0.0}) for i in range(30)]
    rows += [("the stupid weather again", {"insult": 0.0})]
    table = ob.salient_words(rows)
    assert "stupid" in table["insult"]
    assert "number" not in table["insult"] and "fool" not in table["insult"]
    assert ob.pick_words("You STUPID fool", ["insult"], table) == ["STUPID"]
    assert ob.pick_words("You fool", ["insult"], table) == []
    assert ob.pick_words("You stupid fool", ["spam"], table) == []


def test_obfuscate_rewrites_whole_words_only() -> None:
    out = ob.obfuscate("kill the killer, KILL", ["kill"], ob.spaced, random.Random(3))
    assert "killer" in out and out.count("kill") == 1  # only "killer" keeps its spelling


def test_variants_cover_every_transform_and_skip_texts_without_salient_words() -> None:
    table = {"insult": {"stupid": 3.0}}
    out = ob.variants(["you stupid", "hello there"], [["insult"], ["insult"]], table, seed=5)
    assert [v.transform for v in out] == list(ob.ALL_TRANSFORMS)
    assert {v.index for v in out} == {0} and all(v.words == ("stupid",) for v in out)
    again = ob.variants(["you stupid"], [["insult"]], table, seed=5)
    assert [v.text for v in again] == [v.text for v in out]
    assert [v.text for v in ob.variants(["you stupid"], [["insult"]], table, seed=6)] != [
        v.text for v in out
    ]
