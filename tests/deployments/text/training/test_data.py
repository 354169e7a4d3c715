from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from deployments.signals import TEXT_CATEGORIES
from deployments.text.training import data
from deployments.text.training.data import SKIPPED, SOURCES, Example, load_examples, text_key

DATA_DIR = Path(__file__).resolve().parents[4].parent / "shared" / "data"
LABELS_MD = Path(__file__).resolve().parents[4] / "docs" / "labels.md"
SMALL = 60

needs_data = pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"no labelled data at {DATA_DIR}")


def _set_of(example: Example) -> str:
    return example.source.split("/")[0]


@pytest.fixture(scope="module")
def small() -> list[Example]:
    return load_examples(DATA_DIR, max_per_source=SMALL)


@pytest.fixture(scope="module")
def everything() -> list[Example]:
    return load_examples(DATA_DIR)  # cached: the small fixture already paid for the reading


@pytest.fixture(scope="module")
def keyed(everything: list[Example]) -> list[tuple[str, Example]]:
    return [(text_key(e.text), e) for e in everything]


# --- the label map and its documentation (no data needed) ---------------------------------


def test_labels_md_documents_every_source_and_every_skip() -> None:
    doc = LABELS_MD.read_text(encoding="utf-8")
    missing = [name for name in [*SOURCES, *SKIPPED] if f"| {name} |" not in doc]
    assert not missing, f"add these sets to LABELS.md: {missing}"


def test_labels_md_shows_the_current_rules() -> None:
    doc = " ".join(LABELS_MD.read_text(encoding="utf-8").split())
    stale = [row["set"] for row in data.label_table() if row["labels"] not in doc]
    assert not stale, f"LABELS.md rules differ from label_table() for {stale}"


def test_label_table_has_one_row_per_set() -> None:
    table = data.label_table()
    assert [row["set"] for row in table] == [*SOURCES, *SKIPPED]
    assert all(set(row) == {"set", "language", "labels", "validation", "licence"} for row in table)


def test_text_key_ignores_case_punctuation_and_placeholders() -> None:
    assert text_key("@USER You're  an IDIOT!!! URL") == text_key("@user you're an idiot") != ""
    assert text_key("@USER URL") == ""
    assert text_key("😂😂") == "😂😂"


def test_hash_split_is_stable_and_about_15_percent() -> None:
    keys = [f"text number {i}" for i in range(20_000)]
    share = sum(data.hash_split(k) == "validation" for k in keys) / len(keys)
    assert 0.14 < share < 0.16
    assert [data.hash_split(k) for k in keys[:50]] == [data.hash_split(k) for k in keys[:50]]


def test_clean_is_minimal() -> None:
    assert data.clean(" I &amp; you &#128514; \r\n") == "I & you 😂"
    assert data.clean("thanks /u/Some_User and u/other-one") == "thanks u/user and u/user"
    assert data.clean("see reddit.com/u/someone") == "see reddit.com/u/someone"


def test_truncated_post_lists_keep_the_complete_posts() -> None:
    assert data._post_list("['one', 'two', 'thr") == ["one", "two"]
    assert data._post_list("['one', \"it's two\"]") == ["one", "it's two"]


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sources"):
        load_examples(DATA_DIR, ["no-such-set"])


# --- the real data, small ------------------------------------------------------------------


@needs_data
def test_every_data_folder_is_loaded_or_skipped_with_a_reason() -> None:
    folders = {p.name for p in DATA_DIR.iterdir() if p.is_dir() and not p.name.startswith(".")}
    assert folders - set(SOURCES) - set(SKIPPED) == set()


@needs_data
def test_every_source_loads(small: list[Example]) -> None:
    assert {_set_of(e) for e in small} == set(SOURCES)


@needs_data
def test_labels_are_known_categories_in_the_unit_interval(small: list[Example]) -> None:
    for e in small:
        assert e.labels, e
        assert set(e.labels) <= set(TEXT_CATEGORIES), e
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in e.labels.values()), e
        assert e.text.strip() == e.text and e.text
        assert len(e.language) == 2 and e.split in ("train", "validation")


@needs_data
def test_both_splits_present_per_source(small: list[Example]) -> None:
    splits: dict[str, set[str]] = defaultdict(set)
    for e in small:
        splits[e.source].add(e.split)
    assert {s: v for s, v in splits.items() if v != {"train", "validation"}} == {}


@needs_data
def test_max_per_source_caps_each_source_and_keeps_proportions(
    small: list[Example], everything: list[Example]
) -> None:
    counts = Counter(e.source for e in small)
    assert max(counts.values()) <= SMALL
    full = Counter((e.source, e.split) for e in everything)
    for source in counts:
        total = full[(source, "train")] + full[(source, "validation")]
        share = full[(source, "validation")] / total
        got = sum(e.source == source and e.split == "validation" for e in small) / counts[source]
        assert abs(got - share) < 0.05 or full[(source, "validation")] < 3, source


@needs_data
def test_deterministic_across_calls_and_seeds(small: list[Example]) -> None:
    assert load_examples(DATA_DIR, max_per_source=SMALL) == small
    other = load_examples(DATA_DIR, max_per_source=SMALL, seed=14)
    assert other != small
    split_of = {(e.source, e.text): e.split for e in small}
    assert all(split_of.get((e.source, e.text), e.split) == e.split for e in other)


@needs_data
def test_one_split_per_text_across_all_sets(keyed: list[tuple[str, Example]]) -> None:
    splits: dict[str, set[str]] = defaultdict(set)
    sets: dict[str, set[str]] = defaultdict(set)
    for key, e in keyed:
        splits[key].add(e.split)
        sets[key].add(e.source)
    assert [k for k, v in splits.items() if len(v) > 1] == []
    assert any(len(v) > 1 for v in sets.values())  # the property is exercised across sets


@needs_data
def test_duplicates_within_a_source_are_merged(keyed: list[tuple[str, Example]]) -> None:
    seen = Counter((e.source, key) for key, e in keyed)
    assert [k for k, n in seen.items() if n > 1] == []


@needs_data
def test_official_validation_splits_are_used(everything: list[Example]) -> None:
    share: dict[str, float] = {}
    for name in ("cold-chinese-offensive", "korean-hate-speech-beep", "olid-offenseval2019"):
        rows = [e for e in everything if e.source == name]
        share[name] = sum(e.split == "validation" for e in rows) / len(rows)
    assert share["cold-chinese-offensive"] > 0.19  # official dev: 20%
    assert share["korean-hate-speech-beep"] < 0.07  # official dev: 471 of 8,367
    assert 0.09 < share["olid-offenseval2019"] < 0.11  # tweeteval's offensive val


@needs_data
def test_only_real_labels_are_carried(everything: list[Example]) -> None:
    by_set: dict[str, set[str]] = defaultdict(set)
    for e in everything:
        by_set[_set_of(e)] |= set(e.labels)
    assert by_set["sms-spam-collection"] == by_set["youtube-spam-collection"] == {"spam"}
    for name in (
        "sdcnl-suicide-vs-depression",
        "reddit-cssrs-suicide-risk",
        "suicidal-ideation-twitter",
    ):
        assert by_set[name] == {"self_harm"}
    assert "sexual_minors" not in set().union(*by_set.values())


@needs_data
def test_davidson_classes_map_as_documented(everything: list[Example]) -> None:
    davidson = [e for e in everything if e.source == "davidson-hate-offensive"]
    pairs = Counter((e.labels["toxicity"], e.labels["identity_attack"]) for e in davidson)
    assert pairs[(0.0, 1.0)] == 0 and pairs[(1.0, 1.0)] > 1000 and pairs[(0.0, 0.0)] > 3000


@needs_data
def test_texts_are_cleaned(everything: list[Example]) -> None:
    toxigen = [e.text for e in everything if e.source == "toxigen-annotated"]
    assert not any(t.startswith("b'") or t.startswith('b"') for t in toxigen)
    davidson = [e.text for e in everything if e.source == "davidson-hate-offensive"]
    assert not any("&amp;" in t or "&#" in t or "&quot;" in t for t in davidson)
