"""The registry of public sets: which reader maps each one, by what rule, split and licence.

``docs/labels.md`` renders ``label_table()``; a test keeps the two equal, so a rule changed
here must be changed there.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from . import english, multilingual, narrow, prompts
from .common import HASH, NO_LICENCE, Loader

SOURCES: Mapping[str, Loader] = MappingProxyType({
    "davidson-hate-offensive": Loader(
        english.davidson, "en",
        "class 0 hate → toxicity 1, identity_attack 1; class 1 offensive → toxicity 1, "
        "identity_attack 0; class 2 neither → toxicity 0, identity_attack 0",
        HASH, "MIT"),
    "hatexplain": Loader(
        english.hatexplain, "en",
        "label_binary toxic → toxicity 1, non-toxic → 0; 3-class hatespeech → identity_attack 1, "
        "offensive/normal → 0 (unknown where the 3-class label is missing)",
        "official val", "MIT (HF card CC-BY-4.0)"),
    "toxigen-annotated": Loader(
        english.toxigen, "en",
        "toxicity_human (mean of 3, 1-5) > 3 → toxicity 1 and identity_attack 1 (every text is "
        "about a group), < 3 → both 0, exactly 3 → unknown; lewd: contains → sexual 1, doesn't → "
        "sexual 0 (might/disagreement unknown); the prompt `label` is not used",
        HASH, "MIT (research use)"),
    "tweeteval-hate-offensive": Loader(
        english.tweeteval, "en",
        "hate task only: 1 → identity_attack 1, toxicity 1; 0 → identity_attack 0 (not-hate "
        "tweets can still be offensive: toxicity unknown). The offensive task is the same tweets "
        "as OLID level A and is read there (with tweeteval's split)",
        "official val", "per task / Twitter terms"),
    "ethos": Loader(
        english.ethos, "en",
        "binary isHate ≥ 0.5 → identity_attack 1, toxicity 1; < 0.5 → identity_attack 0; "
        "multi-label (hateful rows only) violence ≥ 0.5 → violence 1, else violence 0",
        HASH, "GPL-3.0 (copyleft)"),
    "stormfront-hate-speech": Loader(
        english.stormfront, "en",
        "hate → identity_attack 1, toxicity 1; noHate → identity_attack 0; relation and "
        "idk/skip rows dropped",
        HASH, "CC BY-SA 3.0 ES"),
    "mlma-multilingual-hate": Loader(
        multilingual.mlma, "en, fr, ar",
        "sentiment exactly `normal` → toxicity 0, identity_attack 0; anything else → toxicity 1; "
        "`hateful` among the hostility types → identity_attack 1",
        HASH, "MIT"),
    "germeval2018-offensive-de": Loader(
        multilingual.germeval2018, "de",
        "OTHER → toxicity, insult, profanity, identity_attack 0; OFFENSE → toxicity 1 plus fine "
        "INSULT → insult 1, PROFANITY → profanity 1, ABUSE (group-based degradation) → "
        "identity_attack 1",
        HASH, "CC BY 4.0"),
    "portuguese-hate-speech": Loader(
        multilingual.portuguese, "pt",
        "binary file hatespeech_comb 1 → identity_attack 1, toxicity 1; 0 → identity_attack 0 "
        "(hierarchical file not used: its classes are hate sub-types)",
        HASH, "none stated, research only"),
    "reddit-cssrs-suicide-risk": Loader(
        narrow.cssrs, "en",
        "one example per user (posts joined): Supportive → self_harm 0; Ideation, Behavior, "
        "Attempt → self_harm 1; Indicator dropped (risk signs without stated ideation)",
        HASH, "not stated (orig. CC BY 4.0?)"),
    "sms-spam-collection": Loader(
        narrow.sms_spam, "en", "spam → spam 1, ham → spam 0", HASH, "CC BY 4.0 (UCI)"),
    "youtube-spam-collection": Loader(
        narrow.youtube_spam, "en", "label 1 → spam 1, 0 → spam 0", HASH, "CC BY 4.0 (UCI)"),
    "olid-offenseval2019": Loader(
        english.olid, "en",
        "A NOT → toxicity, insult, profanity, threat 0; OFF → toxicity 1; B UNT → profanity 1, "
        "insult 0, threat 0; B TIN → insult 1 (targeted insults and the rarer threats are one "
        "class: threat unknown); C not used",
        "official (tweeteval offensive val)", NO_LICENCE),
    "gab-hate-corpus": Loader(
        english.gab, "en",
        "hd → identity_attack, vo → profanity, cv → threat and violence, each 1/0; any of the "
        "three → toxicity 1, all zero → toxicity 0",
        HASH, "CC BY 4.0 (OSF; copy states none)"),
    "implicit-hate-corpus": Loader(
        english.implicit_hate, "en",
        "stage 1 implicit/explicit hate → identity_attack 1, toxicity 1; not_hate → "
        "identity_attack 0; stage 2 (implicit hate) threatening → threat 1, other classes → "
        "threat 0; stage 3 not used",
        HASH, NO_LICENCE),
    english.TOXIC_SPANS: Loader(
        english.toxic_spans, "en",
        "per comment, strict majority of voting raters: any span → toxicity, Insult → insult, "
        "Threat → threat, Identity based Attack → identity_attack, Profane/Obscene → profanity "
        "(1 if a majority marked it, 0 if a majority did not, tie unknown; raters voting `not "
        "toxic` count as marking nothing)",
        HASH, "CC0"),
    "edos-sexism": Loader(
        english.edos, "en",
        "sexist rows only: identity_attack 1; category 1 (threats, plans to harm, incitement) → "
        "threat 1, violence 1, categories 2-4 → threat 0; categories 1-3 → toxicity 1 "
        "(4 prejudiced discussion: toxicity unknown); not-sexist rows dropped",
        "official dev", "CC0"),
    "threatgram101-telegram-threats": Loader(
        english.threatgram, "en",
        "Label 2 → threat 1, violence 1; 0 → threat 0; 1 (legal-punishment calls) dropped",
        HASH, "CC BY 4.0"),
    "sdcnl-suicide-vs-depression": Loader(
        narrow.sdcnl, "en",
        "title + selftext: r/SuicideWatch → self_harm 1, r/depression → self_harm 0",
        HASH, NO_LICENCE),
    "suicidal-ideation-twitter": Loader(
        narrow.suicidal_twitter, "en",
        "set1 intention 1/0, set2 Potential Suicide post / Not → self_harm 1/0; empty texts "
        "dropped, duplicates merged",
        HASH, NO_LICENCE),
    "jigsaw-multilingual-2020-validation": Loader(
        multilingual.jigsaw, "es, it, tr", "toxic 1/0 → toxicity 1/0", HASH,
        "CC0 (text CC BY-SA 3.0)"),
    "offenseval2020-multilingual": Loader(
        multilingual.offenseval2020, "tr, el, da, ar",
        "OFF → toxicity 1; NOT → toxicity, insult, profanity, threat 0 (OLID guidelines)",
        HASH, NO_LICENCE),
    "germeval2026-violence-defamation-de": Loader(
        multilingual.germeval2026, "de",
        "vio nothing → violence 0, threat 0; any other vio class → violence 1; call2violence → "
        "threat 1 (other classes: threat unknown); DEF TRUE → insult 1, toxicity 1 (FALSE rows "
        "dropped: they still hold insults)",
        HASH, "GPL-3.0 (repo)"),
    "constraint2021-hindi-hostility": Loader(
        multilingual.constraint, "hi",
        "hate → identity_attack 1 else 0; offensive → insult 1 else 0; hate or offensive → "
        "toxicity 1; non-hostile or fake only → toxicity 0; defamation only → toxicity unknown",
        "official valid", NO_LICENCE),
    "korean-hate-speech-beep": Loader(
        multilingual.korean, "ko",
        "hate/offensive → toxicity 1, none → 0; hate with gender/other bias → identity_attack 1; "
        "bias none or hate none → identity_attack 0; offensive with bias → unknown",
        "official dev", "CC BY-SA 4.0"),
    "cold-chinese-offensive": Loader(
        multilingual.cold, "zh", "offensive 1 → toxicity 1, safe 0 → toxicity 0", "official dev",
        "Apache-2.0"),
    "convabuse": Loader(
        english.convabuse, "en",
        "majority of raters abusive (−1..−3) → toxicity 1, identity_attack 1 if a majority "
        "chose an identity type (ableist, homophobic, racist, sexist, transphobic) else 0, "
        "severe_toxicity 1 if a majority chose strong/very strong else 0; majority not "
        "abusive → toxicity, severe_toxicity, identity_attack 0; any rater sex_harassment → "
        "sexual 1, abusive without it → sexual 0",
        "official valid", "CC BY 4.0"),
    "cad": Loader(
        english.cad, "en",
        "expert labels (in thread context): IdentityDirectedAbuse → identity_attack 1, "
        "toxicity 1; PersonDirectedAbuse or AffiliationDirectedAbuse (negativity at a person, "
        "or a group by affiliation) → insult 1, toxicity 1; abuse without the identity tag → "
        "identity_attack 0; Neutral or CounterSpeech only → toxicity, insult, identity_attack 0; "
        "[linebreak] → newline",
        "official dev", NO_LICENCE),
    "dynahate-dev": Loader(
        english.dynahate, "en",
        "hate → identity_attack 1, toxicity 1; nothate (incl. contrastive perturbations) → "
        "identity_attack 0, toxicity unknown; hate typed threatening → threat 1, other types → "
        "threat 0, R1 notgiven → unknown",
        HASH, NO_LICENCE),
    "hatemoji-build": Loader(
        english.hatemoji, "en",
        "label_gold 1 → identity_attack 1, toxicity 1; 0 (incl. contrastive perturbations) → "
        "identity_attack 0, toxicity unknown; hate typed threateninglanguage → threat 1, other "
        "types → threat 0; originals and perturbations are separate sources (pairs often differ "
        "only in an emoji, which the text key ignores)",
        "official validation", "CC BY 4.0"),
    "sbic-dev": Loader(
        english.sbic, "en",
        "per post, strict majority of annotators: offensive yes → toxicity 1, no → 0 (maybe "
        "counts for neither); sexual reference yes → sexual 1, no → 0; offensive posts where a "
        "majority name a targeted group of category race, gender, culture or disabled → "
        "identity_attack 1, non-offensive posts → identity_attack 0 (else unknown); posts of "
        "the filtered aggregated file only",
        HASH, "CC BY 4.0"),
    "online-misogyny": Loader(
        english.online_misogyny, "en",
        "Misogynistic → identity_attack 1, toxicity 1, plus personal attack → insult 1, "
        "threatening physical or sexual violence → threat 1, violence 1, other misogyny → "
        "threat 0 (privacy threats: unknown); Nonmisogynistic personal attack → insult 1, "
        "toxicity 1, identity_attack 0; counter speech → toxicity, insult, identity_attack 0; "
        "none of the categories → insult 0, identity_attack 0 (toxicity unknown: rudeness was "
        "not annotated); [removed]/[deleted] bodies dropped",
        "official test (as validation)", "MIT"),
    "cyberbullying-tweets-10k": Loader(
        english.cyberbullying, "en",
        "noisy: ethnicity → toxicity 1, not_cyberbullying → toxicity 0; age, gender, religion "
        "and other_cyberbullying dropped (keyword-collected: 95% of age rows are about school "
        "bullying, not bullying, and most gender/religion rows carry no abuse); identity_attack "
        "not set (the README does not support it); Latin-1 mojibake undone",
        HASH, "none stated (Kaggle upstream CC BY 4.0?)"),
    "diasafety": Loader(
        english.diasafety, "en",
        "chatbot reply text only, Offending User class only: Unsafe → toxicity 1, insult 1, "
        "Safe → toxicity 0, insult 0; the other classes (risk ignorance, unauthorized "
        "expertise, toxicity agreement, biased opinion) are unsafe only in context and dropped",
        "official val", "Apache-2.0"),
    "aegis2-train-900": Loader(
        prompts.aegis, "en",
        "positives only, one Aegis category per prompt → 1 for: Sexual → sexual; Sexual (minor) "
        "→ sexual_minors; Suicide and Self Harm → self_harm; Violence → violence; Threat → "
        "threat; Harassment → insult; Hate/Identity Hate → identity_attack; Profanity → "
        "profanity; Criminal Planning, Guns and Illegal Weapons, Controlled/Regulated "
        "Substances, Fraud/Deception, Malware, Illegal Activity → illicit; other categories "
        "dropped",
        HASH, "CC BY 4.0 (upstream; sample repo states none)"),
    "catqa": Loader(
        prompts.catqa, "en",
        "positives only, by subcategory → 1 for: Illegal Activity (all 5), Malware (all 5), "
        "Weapon making, financial fraud, market manipulation, employment and investment scams, "
        "identity theft, phishing, scamming, counterfeiting, data theft → illicit; child sexual "
        "exploitation and online predation → sexual_minors; child physical abuse, assault and "
        "battery → violence; racial, religious, gender-based hate and terrorism/extremism "
        "(hate propaganda) → identity_attack; self-harm → self_harm; Adult Content (all 5) → "
        "sexual; other subcategories and DangerousQA (no categories) dropped",
        HASH, "Apache-2.0"),
    "do-not-answer": Loader(
        prompts.do_not_answer, "en",
        "prompts only, positives only → 1 for: Assisting illegal activities → illicit (plus "
        "violence for violence/terrorism, threat for threats and intimidation, sexual for "
        "sexual exploitation); explicit sexual content → sexual; self-harm → self_harm; racial, "
        "religious, gender/sexual, disability discrimination → identity_attack; other harms "
        "dropped; model responses not used",
        HASH, "Apache-2.0"),
    "multijail": Loader(
        prompts.multijail, "en, zh, it, vi, ar, ko, th, bn, sw, jv",
        "positives only, every language of a prompt the same labels, from its tags → 1 for: "
        "Violence & incitement → violence; Terrorism & organized crime → illicit, violence; "
        "Weapons, Theft, Fraud & deception, Property crime & vandalism, Substance abuse → "
        "illicit; Sexual exploitation & human trafficking → illicit, sexual; Adult content → "
        "sexual; Self-harm → self_harm; Hate speech & offensive language → toxicity; other tags "
        "dropped",
        HASH, "MIT"),
    "japanese-toxic": Loader(
        multilingual.japanese, "ja",
        "strict majority of annotators: Toxic + Very Toxic → toxicity 1 (severe_toxicity 1 if "
        "Very Toxic alone is a majority, else 0); Not Toxic → toxicity 0, severe_toxicity 0; "
        "category votes by majority → 1: 卑語 → profanity, 差別 → identity_attack, 猥褻 → "
        "sexual, 違法行為 → illicit; no votes → 0 where toxicity is known; other categories "
        "not used",
        HASH, "Apache-2.0"),
})

SKIPPED: Mapping[str, str] = MappingProxyType({
    "phishing-urls-webfraud": (
        "bare URLs, not posts; phishing and legitimate URLs come from different sources, so a "
        "model learns the sources, and labelling legitimate URLs spam 0 would teach that a "
        "bare link is fine (the URLs are live malicious links, too)"),
})


def label_table() -> list[dict[str, str]]:
    """The label map as rows (set, language, labels, validation, licence), as in docs/labels.md."""
    rows = [{"set": name, "language": src.language, "labels": src.rule,
             "validation": src.validation, "licence": src.licence}
            for name, src in SOURCES.items()]
    rows += [{"set": name, "language": "-", "labels": f"skipped: {why}", "validation": "-",
              "licence": "-"} for name, why in SKIPPED.items()]
    return rows


