"""Readers of the assistant-prompt sets: harmful requests written to chatbots, positives only.

Each prompt carries 1 for the native categories its harm label names and nothing else: the
sets hold no harmless requests, so no category can be 0 here (the hand-made
``handmade/harmless_requests.yaml`` supplies the negatives). A harm label with no native
category (privacy, misinformation, copyright, unqualified advice, ...) drops the prompt.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

from .common import Row, read_json, records

_AEGIS: Mapping[str, tuple[str, ...]] = {
    "Sexual": ("sexual",),
    "Sexual (minor)": ("sexual_minors",),
    "Suicide and Self Harm": ("self_harm",),
    "Violence": ("violence",),
    "Threat": ("threat",),
    "Harassment": ("insult",),
    "Hate/Identity Hate": ("identity_attack",),
    "Profanity": ("profanity",),
    "Criminal Planning/Confessions": ("illicit",),
    "Guns and Illegal Weapons": ("illicit",),
    "Controlled/Regulated Substances": ("illicit",),
    "Fraud/Deception": ("illicit",),
    "Malware": ("illicit",),
    "Illegal Activity": ("illicit",),
}

# (category, subcategory) -> native categories; subcategories whose questions do not fit their
# category's name are mapped by what the questions ask (read, not guessed from the name).
_CATQA: Mapping[tuple[str, str], tuple[str, ...]] = {
    **{("Illegal Activity", sub): ("illicit",) for sub in
       ("Drug", "Weapon", "Human Trafficking", "Cybercrime", "Theft and Robbery")},
    ("Child Abuse", "Content Sexual exploitation"): ("sexual_minors",),
    ("Child Abuse", "Online predation"): ("sexual_minors",),
    ("Child Abuse", "Physical abuse"): ("violence",),
    **{("Hate/Harass/Violence", sub): ("identity_attack",) for sub in
       ("Racial or ethnic hate", "Religious intolerance", "Gender-based violence",
        "Terrorism and extremism")},  # the last asks for hate propaganda against groups
    **{("Malware Viruses", sub): ("illicit",) for sub in
       ("Malicious software designed to spread and damage computers", "Trojans", "Spyware",
        "Ransomware", "Adware")},
    ("Physical Harm", "Self-harm"): ("self_harm",),
    ("Physical Harm", "Assault and battery"): ("violence",),
    ("Physical Harm", "Weapon making"): ("illicit",),
    **{("Economic Harm", sub): ("illicit",) for sub in
       ("Financial fraud", "Market manipulation", "Employment scams", "Investment scams")},
    **{("Fraud/Deception", sub): ("illicit",) for sub in
       ("Identity theft", "Phishing", "Scamming", "Counterfeiting")},
    **{("Adult Content", sub): ("sexual",) for sub in
       ("Pornography", "Erotic text", "Nude imagery", "Sexually explicit dialogue",
        "Adult-themed humor")},  # the last asks how to coerce or drug someone into sex
    ("Privacy Violation Activity", "Data theft"): ("illicit",),  # hacking into accounts
}

# Do-Not-Answer: every "Assisting illegal activities" prompt is illicit; these specific harms
# name a native category too (the text before the colon of ``specific_harms``).
_DNA_ILLEGAL_EXTRA: Mapping[str, tuple[str, ...]] = {
    "Violence and Physical Harm": ("violence",),
    "Terrorist Activities": ("violence",),
    "Threats and Intimidation": ("threat",),
    "Sexual Exploitation and Pornography": ("sexual",),
}
_DNA_OTHER: Mapping[str, tuple[str, ...]] = {
    "Explicit Sexual Content": ("sexual",),
    "Self-Harm": ("self_harm",),
    "Racial/Ethnic Discrimination": ("identity_attack",),
    "Religious Discrimination": ("identity_attack",),
    "Gender/Sexual Discrimination": ("identity_attack",),
    "Disability Discrimination": ("identity_attack",),
}

_MULTIJAIL_TAGS: Mapping[str, tuple[str, ...]] = {
    "Violence & incitement": ("violence",),
    "Terrorism & organized crime": ("illicit", "violence"),
    "Weapons": ("illicit",),
    "Theft": ("illicit",),
    "Fraud & deception": ("illicit",),
    "Property crime & vandalism": ("illicit",),
    "Substance abuse & banned substances": ("illicit",),
    "Sexual exploitation & human trafficking": ("illicit", "sexual"),
    "Adult content": ("sexual",),
    "Self-harm": ("self_harm",),
    "Hate speech & offensive language": ("toxicity",),
}
MULTIJAIL_LANGUAGES = ("en", "zh", "it", "vi", "ar", "ko", "th", "bn", "sw", "jv")


def _positives(categories: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(categories, 1.0)


def aegis(folder: Path) -> Iterator[Row]:
    for r in records(folder / "aegis_900.csv.gz"):
        yield Row(r["prompt"], _positives(_AEGIS.get(r["category"], ())), "en")


def catqa(folder: Path) -> Iterator[Row]:
    # dangerousqa.json has no category labels: nothing to say about any category.
    for category, subcategories in read_json(folder / "catqa_english.json.gz").items():
        for subcategory, questions in subcategories.items():
            categories = _CATQA.get((category, subcategory.rstrip(":")), ())  # "Drug:"
            yield from (Row(q, _positives(categories), "en") for q in questions)


def do_not_answer(folder: Path) -> Iterator[Row]:
    # data_en.csv (models' responses, labelled harmful or not) is not read: its labels say
    # whether a response helped, not which category it falls in.
    for r in records(folder / "do_not_answer_en.csv.gz"):
        harm = r["specific_harms"].split(":")[0].strip()
        if r["types_of_harm"] == "Assisting illegal activities":
            categories = ("illicit", *_DNA_ILLEGAL_EXTRA.get(harm, ()))
        else:
            categories = _DNA_OTHER.get(harm, ())
        yield Row(r["question"], _positives(categories), "en")


def multijail(folder: Path) -> Iterator[Row]:
    for r in records(folder / "MultiJail.csv.gz"):
        tags = ast.literal_eval(r["tags"])
        categories = tuple(c for t in tags for c in _MULTIJAIL_TAGS.get(t, ()))
        for lang in MULTIJAIL_LANGUAGES:
            yield Row(r[lang], _positives(categories), lang, subset=lang)
