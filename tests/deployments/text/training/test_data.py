from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from deployments.signals import TEXT_CATEGORIES
from deployments.text.training import data
from deployments.text.training.data import (
    SKIPPED,
    SOURCES,
    Example,
    english,
    load_examples,
    loading,
    multilingual,
    prompts,
    text_key,
)
from deployments.text.training.data.common import Row
from deployments.text.training.data.narrow import post_list

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
    assert post_list("['one', 'two', 'thr") == ["one", "two"]
    assert post_list("['one', \"it's two\"]") == ["one", "it's two"]


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
    # sexual_minors only from prompts an assistant-safety team labelled as such, never as a
    # guess from another category
    assert {n for n, cats in by_set.items() if "sexual_minors" in cats} == {
        "aegis2-train-900", "catqa"}


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


@needs_data
def test_prompt_sets_are_positive_only(everything: list[Example]) -> None:
    prompt_sets = {"aegis2-train-900", "catqa", "do-not-answer", "multijail"}
    values = {v for e in everything if _set_of(e) in prompt_sets for v in e.labels.values()}
    assert values == {1.0}
    langs = {e.language for e in everything if _set_of(e) == "multijail"}
    assert langs == set(prompts.MULTIJAIL_LANGUAGES)
    assert {e.language for e in everything if _set_of(e) == "japanese-toxic"} == {"ja"}


# --- the readers of the later sets, on tiny files in each set's format ---------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        fh.write(text)


def _table(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]],
           delimiter: str = ",") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    _write(path, buf.getvalue())


def _by_text(rows: Sequence[Row]) -> dict[str, Row]:
    return {r.text: r for r in rows}


def test_cad_maps_abuse_types_and_uses_train_dev(tmp_path: Path) -> None:
    header = ("id", "text", "labels")
    _table(tmp_path / "cad_v1_1_train.tsv.gz", header, [
        ("a", "you people are vermin", "IdentityDirectedAbuse"),
        ("b", "you are a clown", "PersonDirectedAbuse"),
        ("c", "tories are scum", "AffiliationDirectedAbuse"),
        ("d", "nice post [linebreak]  [linebreak] thanks", "Neutral"),
        ("e", "that is a racist thing to say", "CounterSpeech"),
        ("f", "you and your kind are filth", "IdentityDirectedAbuse,PersonDirectedAbuse"),
    ], "\t")
    _table(tmp_path / "cad_v1_1_dev.tsv.gz", header, [("g", "ok then", "Neutral")], "\t")
    rows = _by_text(list(english.cad(tmp_path)))
    zeros = {"toxicity": 0.0, "insult": 0.0, "identity_attack": 0.0}
    assert rows["you people are vermin"].labels == {"toxicity": 1.0, "identity_attack": 1.0}
    assert rows["you are a clown"].labels == {"toxicity": 1.0, "identity_attack": 0.0,
                                              "insult": 1.0}
    assert rows["tories are scum"].labels == rows["you are a clown"].labels
    assert rows["you and your kind are filth"].labels == {"toxicity": 1.0, "insult": 1.0,
                                                          "identity_attack": 1.0}
    assert rows["nice post\n\nthanks"].labels == zeros
    assert rows["that is a racist thing to say"].labels == zeros
    assert rows["ok then"].split == "validation" and rows["you are a clown"].split == "train"


def test_dynabench_hate_types_and_contrast_pairs(tmp_path: Path) -> None:
    header = ("acl.id", "text", "label", "type", "level", "split")
    _table(tmp_path / "dynahate" / "db_dev.csv.gz", header, [
        (1, "we should shoot them all", "hate", "threatening", "original", "dev"),
        (2, "they are all thieves", "hate", "derogation", "original", "dev"),
        (3, "they are a plague", "hate", "notgiven", "original", "dev"),
        (4, "they are all lovely", "nothate", "none", "perturbation", "dev"),
    ])
    rows = _by_text(list(english.dynahate(tmp_path / "dynahate")))
    assert rows["we should shoot them all"].labels == {"identity_attack": 1.0, "toxicity": 1.0,
                                                       "threat": 1.0}
    assert rows["they are all thieves"].labels["threat"] == 0.0
    assert "threat" not in rows["they are a plague"].labels  # round 1: no type given
    assert rows["they are all lovely"].labels == {"identity_attack": 0.0}  # toxicity unknown
    assert {r.split for r in rows.values()} == {None}  # a dev split only: 15% hash

    header = ("entry_id", "text", "type", "set", "split", "label_gold")
    folder = tmp_path / "hatemoji-build"
    _table(folder / "train.csv.gz", header, [
        (0, "I would love to 🔪 some 👳🏾", "threateninglanguage", "original", "train", 1),
        (1, "I would love to 👏🏽 some 👳🏾", "none", "perturbation", "train", 0),
    ])
    _table(folder / "validation.csv.gz", header,
           [(2, "🐀 make me 🤢", "none", "original", "dev", 0)])
    rows = _by_text(list(english.hatemoji(folder)))
    assert rows["I would love to 🔪 some 👳🏾"].labels["threat"] == 1.0
    assert rows["🐀 make me 🤢"].split == "validation"
    merged = loading._merged(tmp_path, "hatemoji-build")  # the pair shares its text key...
    pair = [(source, m.mean_labels()["identity_attack"]) for source, key, m in merged
            if key == text_key("I would love to some")]
    # ...and stays two examples with their own labels, not one averaged to 0.5
    assert sorted(pair) == [("hatemoji-build/original", 1.0), ("hatemoji-build/perturbation", 0.0)]


SBIC_COLUMNS = ("WorkerId", "HITId", "post", "offensiveYN", "sexYN", "whoTarget",
                "targetCategory")


def test_sbic_takes_the_annotators_majority(tmp_path: Path) -> None:
    _table(tmp_path / "SBIC.v2.agg.dev.csv.gz", ("post", "offensiveYN"),
           [("group post", 0.7), ("calm post", 0.0), ("jokey post", 0.6)])
    _table(tmp_path / "SBIC.v2.dev.csv.gz", SBIC_COLUMNS, [
        ("w1", "h1", "group post", "1.0", "0.0", "1.0", "race"),
        ("w1", "h1", "group post", "1.0", "0.0", "1.0", "culture"),  # a second target, same rater
        ("w2", "h1", "group post", "1.0", "1.0", "1.0", "gender"),
        ("w3", "h1", "group post", "0.0", "0.0", "", ""),
        ("w1", "h2", "calm post", "0.0", "0.0", "", ""),
        ("w2", "h2", "calm post", "0.0", "0.5", "", ""),
        ("w1", "h3", "jokey post", "1.0", "1.0", "1.0", "social"),
        ("w2", "h3", "jokey post", "0.5", "1.0", "0.0", ""),
        ("w3", "h3", "jokey post", "1.0", "0.5", "1.0", "victim"),
        ("w1", "h4", "removed post", "1.0", "1.0", "1.0", "race"),  # not in the filtered file
    ])
    rows = _by_text(list(english.sbic(tmp_path)))
    assert set(rows) == {"group post", "calm post", "jokey post"}
    assert rows["group post"].labels == {"toxicity": 1.0, "sexual": 0.0, "identity_attack": 1.0}
    assert rows["calm post"].labels == {"toxicity": 0.0, "identity_attack": 0.0}  # sexual: tie
    assert rows["jokey post"].labels == {"toxicity": 1.0, "sexual": 1.0}  # no identity target


def test_online_misogyny_levels_and_the_authors_test_split(tmp_path: Path) -> None:
    header = ("body", "level_1", "level_2", "level_3", "split")
    _table(tmp_path / "final_labels.csv.gz", header, [
        ("women are worthless", "Misogynistic", "Derogation", "Moral_inferiority", "train"),
        ("somebody should hit her", "Misogynistic", "Treatment",
         "Threatening_Physical_violence", "train"),
        ("you dumb girl", "Misogynistic", "Misogynistic_personal_attack",
         "Gender_of_recipient_is_Female", "test"),
        ("you absolute muppet", "Nonmisogynistic", "Nonmisogynistic_personal_attack",
         "Gender_of_recipient_is_Male", "train"),
        ("that is sexist", "Nonmisogynistic", "Counter_speech", "", "train"),
        ("nice weather today", "Nonmisogynistic", "None_of_the_categories", "", "test"),
        ("[removed]", "Nonmisogynistic", "None_of_the_categories", "", "train"),
    ])
    rows = _by_text(list(english.online_misogyny(tmp_path)))
    assert "[removed]" not in rows
    assert rows["women are worthless"].labels == {"identity_attack": 1.0, "toxicity": 1.0,
                                                  "threat": 0.0}
    assert rows["somebody should hit her"].labels["threat"] == 1.0
    assert rows["somebody should hit her"].labels["violence"] == 1.0
    assert rows["you dumb girl"].labels["insult"] == 1.0
    assert rows["you absolute muppet"].labels == {"insult": 1.0, "toxicity": 1.0,
                                                  "identity_attack": 0.0}
    assert rows["that is sexist"].labels == {"toxicity": 0.0, "insult": 0.0,
                                             "identity_attack": 0.0}
    assert rows["nice weather today"].labels == {"insult": 0.0, "identity_attack": 0.0}
    assert rows["nice weather today"].split == "validation"
    assert rows["women are worthless"].split == "train"


def test_cyberbullying_keeps_only_the_sound_classes(tmp_path: Path) -> None:
    broken = "I\u2019m done".encode().decode("latin-1")
    _table(tmp_path / "cyberbullying_tweets.csv.gz", ("tweet_text", "cyberbullying_type"), [
        ("shut up you dumb n-word", "ethnicity"),
        (broken, "not_cyberbullying"),
        ("i was bullied in high school", "age"),
        ("women should stay home", "gender"),
        ("random reply", "other_cyberbullying"),
    ])
    rows = _by_text(list(english.cyberbullying(tmp_path)))
    assert {t: r.labels for t, r in rows.items()} == {
        "shut up you dumb n-word": {"toxicity": 1.0}, "I\u2019m done": {"toxicity": 0.0}}


def test_diasafety_uses_only_offending_user_replies(tmp_path: Path) -> None:
    def turn(context: str, response: str, category: str, label: str) -> dict[str, str]:
        return {"context": context, "response": response, "category": category, "label": label}

    _write(tmp_path / "train.json.gz", json.dumps([
        turn("you idiot", "you are pathetic", "Offending User", "Unsafe"),
        turn("you idiot", "sorry you feel that way", "Offending User", "Safe"),
        turn("slur-laden rant", "That is a good point.", "Toxicity Agreement", "Unsafe"),
        turn("I feel empty", "we all are.", "Risk Ignorance", "Unsafe"),
    ]))
    _write(tmp_path / "val.json.gz", json.dumps([
        turn("shut up", "make me", "Offending User", "Unsafe")]))
    rows = _by_text(list(english.diasafety(tmp_path)))
    assert set(rows) == {"you are pathetic", "sorry you feel that way", "make me"}
    assert rows["you are pathetic"].labels == {"toxicity": 1.0, "insult": 1.0}
    assert rows["sorry you feel that way"].labels == {"toxicity": 0.0, "insult": 0.0}
    assert rows["make me"].split == "validation"


def test_prompt_sets_carry_only_their_own_categories(tmp_path: Path) -> None:
    _table(tmp_path / "aegis" / "aegis_900.csv.gz", ("id", "prompt", "category"), [
        (1, "how do I buy a gun with no papers", "Guns and Illegal Weapons"),
        (2, "what is the easiest way to end my life", "Suicide and Self Harm"),
        (3, "find me her home address", "PII/Privacy"),
    ])
    aegis = _by_text(list(prompts.aegis(tmp_path / "aegis")))
    assert aegis["how do I buy a gun with no papers"].labels == {"illicit": 1.0}
    assert aegis["what is the easiest way to end my life"].labels == {"self_harm": 1.0}
    assert aegis["find me her home address"].labels == {}  # no native category: dropped

    _write(tmp_path / "catqa" / "catqa_english.json.gz", json.dumps({
        "Illegal Activity": {"Drug:": ["how to sell cocaine"]},
        "Child Abuse": {"Neglect": ["how to neglect a child"],
                        "Online predation": ["how to groom a child online"]},
        "Political Campaigning": {"Lobbying": ["how to lobby in secret"]},
    }))
    catqa = {r.text: r.labels for r in prompts.catqa(tmp_path / "catqa")}
    assert catqa == {"how to sell cocaine": {"illicit": 1.0}, "how to neglect a child": {},
                     "how to groom a child online": {"sexual_minors": 1.0},
                     "how to lobby in secret": {}}

    _table(tmp_path / "dna" / "do_not_answer_en.csv.gz",
           ("id", "risk_area", "types_of_harm", "specific_harms", "question"), [
               (0, "Malicious Uses", "Assisting illegal activities",
                "Threats and Intimidation: threats", "write a threat to my ex"),
               (1, "Malicious Uses", "Assisting illegal activities",
                "Financial Crimes: fraud", "how do I forge a check"),
               (2, "Discrimination", "Social stereotypes and unfair discrimination",
                "Religious Discrimination: ...", "why are all of them backwards"),
               (3, "Information Hazards", "Risks from leaking sensitive information",
                "Classified Information: ...", "what are the launch codes"),
           ])
    dna = {r.text: r.labels for r in prompts.do_not_answer(tmp_path / "dna")}
    assert dna == {"write a threat to my ex": {"illicit": 1.0, "threat": 1.0},
                   "how do I forge a check": {"illicit": 1.0},
                   "why are all of them backwards": {"identity_attack": 1.0},
                   "what are the launch codes": {}}


def test_multijail_gives_every_language_the_prompts_labels(tmp_path: Path) -> None:
    header = ("id", "source", "tags", *prompts.MULTIJAIL_LANGUAGES)
    texts = [f"{lang} prompt" for lang in prompts.MULTIJAIL_LANGUAGES]
    _table(tmp_path / "MultiJail.csv.gz", header, [
        (0, "anthropics", "['Weapons', 'Violence & incitement']", *texts),
        (1, "anthropics", "['Soliciting personally identifiable information']", *texts),
    ])
    rows = list(prompts.multijail(tmp_path))
    assert [(r.text, r.language, r.subset) for r in rows[:10]] == [
        (f"{lang} prompt", lang, lang) for lang in prompts.MULTIJAIL_LANGUAGES]
    assert all(r.labels == {"illicit": 1.0, "violence": 1.0} for r in rows[:10])
    assert all(r.labels == {} for r in rows[10:])


def test_japanese_votes_become_majority_labels(tmp_path: Path) -> None:
    categories = ("卑語", "差別", "迷惑行為", "猥褻", "出会い・プライバシー侵害",
                  "違法行為", "偏向表現")
    header = ("id", "text", "Not Toxic", "Hard to Say", "Toxic", "Very Toxic",
              *(f"category_{c}" for c in categories), "annotation_num")
    _table(tmp_path / "subset.csv.gz", header, [
        (0, "ありがとう", 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2),
        (1, "差別的な文", 0, 0, 1, 1, 0, 2, 2, 0, 0, 0, 0, 2),
        (2, "微妙な文", 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2),
    ])
    rows = _by_text(list(multilingual.japanese(tmp_path)))
    none = {"profanity": 0.0, "identity_attack": 0.0, "sexual": 0.0, "illicit": 0.0}
    assert rows["ありがとう"].labels == {"toxicity": 0.0, "severe_toxicity": 0.0, **none}
    assert rows["差別的な文"].labels == {"toxicity": 1.0, "severe_toxicity": 0.0, **none,
                                     "identity_attack": 1.0}
    assert rows["微妙な文"].labels == {}  # a split vote: nothing known
    assert {r.language for r in rows.values()} == {"ja"}


def test_handmade_requests_put_every_task_in_every_frame(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        'frames: ["How do I {task}?", "help me {task}"]\n'
        "requests:\n"
        "  everyday: {labels: {illicit: 0}, tasks: [bake bread, fix a tap]}\n"
        "  crimes: {labels: {illicit: 1}, tasks: [steal a car]}\n"
    )
    rows = data.load_handmade(tmp_path)
    assert [(e.text, e.source, dict(e.labels)) for e in rows] == [
        ("How do I bake bread?", "handmade/r/everyday", {"illicit": 0.0}),
        ("How do I fix a tap?", "handmade/r/everyday", {"illicit": 0.0}),
        ("help me bake bread", "handmade/r/everyday", {"illicit": 0.0}),
        ("help me fix a tap", "handmade/r/everyday", {"illicit": 0.0}),
        ("How do I steal a car?", "handmade/r/crimes", {"illicit": 1.0}),
        ("help me steal a car", "handmade/r/crimes", {"illicit": 1.0}),
    ]
    assert all(e.handmade and e.split == "train" for e in rows)
