"""Training on a tiny sample, the artifact round trip, and the shipped artifact's behaviour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deployments.signals import TEXT_CATEGORIES, Signal
from deployments.text.encoder import Encoder, MiniLMEncoder, USEEncoder
from deployments.text.model import (
    ARTIFACT_DIR,
    METRICS_FILE,
    WINDOW_CHARS,
    TextModel,
    TextScores,
    TextWeights,
    post_pieces,
    text_pieces,
    validation_auroc,
    whole_posts,
    windows,
)
from deployments.text.training.data import Example
from deployments.text.training.evaluate import policy_thresholds
from deployments.text.training.train import (
    DEFAULT_POLICY,
    EmbeddingCache,
    TrainConfig,
    score_examples,
    train_text,
)

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"no labelled data at {DATA}")


@pytest.fixture(scope="module")
def encoders() -> dict[str, Encoder]:
    return {e.name: e for e in (MiniLMEncoder(device="cpu"), USEEncoder(), USEEncoder(tokens=True))}


@pytest.fixture(scope="module")
def shipped(encoders: dict[str, Encoder]) -> TextModel:
    return TextModel(ARTIFACT_DIR, device="cpu", encoders=encoders)


@pytest.mark.parametrize(
    "name", ["all-MiniLM-L6-v2", "use-multilingual-v3", "use-multilingual-v3-tokens"]
)
def test_encoders_give_unit_vectors_in_input_order(encoders: dict[str, Encoder], name: str) -> None:
    encoder = encoders[name]
    texts = ["a much longer sentence about the weather today", "hi", "", "ein Satz auf Deutsch"]
    batch = encoder.encode(texts)
    one_by_one = np.stack([encoder.encode([t])[0] for t in texts])
    assert batch.shape == (4, encoder.dim) and batch.dtype == np.float32
    for part in np.split(batch, [512], axis=1) if name.endswith("tokens") else [batch]:
        assert np.allclose(np.linalg.norm(part[[0, 1, 3]], axis=1), 1.0, atol=1e-3)
    assert np.allclose(batch, one_by_one, atol=1e-3)
    assert encoder.encode([]).shape == (0, encoder.dim)


@needs_data
def test_training_on_a_tiny_sample_writes_a_loadable_artifact(
    tmp_path: Path, encoders: dict[str, Encoder]
) -> None:
    cfg = TrainConfig(
        encoders=("all-MiniLM-L6-v2", "use-multilingual-v3"),
        max_per_source=150,
        epochs=2,
        buckets=2**12,
        head_hidden=16,
    )
    sources = ["davidson-hate-offensive", "youtube-spam-collection", "hatexplain"]
    metrics = train_text(DATA, tmp_path, cfg, sources=sources, device="cpu")
    assert {"toxicity", "spam"} <= set(metrics["categories"])
    assert set(metrics["advertised"]) <= set(metrics["categories"])
    assert set(metrics["withheld"]) == set(metrics["categories"]) - set(metrics["advertised"])
    assert (tmp_path / "metrics.json").is_file()
    assert metrics["validation"]["pooled"]["spam"]["n"] > 0

    model = TextModel(tmp_path, device="cpu", encoders=encoders)
    scores = model.score(["free entry win cash now call 0800", "see you at lunch"])
    assert scores.ensemble.shape == (2, len(metrics["categories"]))
    assert set(scores.components) == {"minilm_head", "use_head", "char_ngram", "word_ngram"}
    assert metrics["version"].startswith("text-minilm-use-ngram-words-")
    assert metrics["validation"]["pooled"]["spam/use_head"]["n"] > 0
    assert metrics["rows"]["handmade"] > 0
    assert ((scores.ensemble >= 0) & (scores.ensemble <= 1)).all()

    reloaded = TextWeights.load(tmp_path)
    assert reloaded.manifest["version"] == metrics["version"]


def test_shipped_artifact_advertises_only_native_categories(shipped: TextModel) -> None:
    assert shipped.advertised
    assert set(shipped.advertised) <= set(TEXT_CATEGORIES)
    assert [c.name for c in shipped.categories()] == shipped.advertised
    assert all(c.source == "model" for c in shipped.categories())


def test_shipped_categories_carry_their_validation_auroc(shipped: TextModel) -> None:
    metrics = json.loads((ARTIFACT_DIR / METRICS_FILE).read_text())["validation"]
    insult = {c.name: c for c in shipped.categories()}["insult"]
    assert insult.validation_auroc == {"all": metrics["pooled"]["insult"]["auroc"],
                                       "en": metrics["pooled-en"]["insult"]["auroc"]}


def test_validation_auroc_only_from_the_artifacts_own_metrics(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    assert validation_auroc(path, "v1") == {}  # no file
    pooled = {"insult": {"auroc": 0.93}, "insult/use_head": {"auroc": 0.9},
              "sexual": {"auroc": float("nan")}}
    path.write_text(json.dumps({"version": "v1", "validation": {
        "pooled": pooled, "pooled-en": {"insult": {"auroc": 0.76}}}}))
    assert validation_auroc(path, "v1") == {"insult": {"all": 0.93, "en": 0.76}}
    assert validation_auroc(path, "v2") == {}  # another artifact's figures


def test_shipped_artifact_separates_toxic_from_benign(shipped: TextModel) -> None:
    toxic, benign = shipped.predict(
        ["you are a worthless stupid idiot", "thank you, that was really helpful"]
    )
    assert toxic.scores["toxicity"] > 0.5 > benign.scores["toxicity"]
    assert set(toxic.details) == set(shipped.weights.components)
    assert toxic.model_version == shipped.version


def test_obfuscation_does_not_hide_an_insult(shipped: TextModel) -> None:
    plain, spaced, leet = shipped.predict(
        ["you stupid idiot", "you s t u p i d i.d.i.o.t", "you stup1d 1d10t"]
    )
    assert spaced.scores["toxicity"] > 0.5 and leet.scores["toxicity"] > 0.5
    assert abs(plain.scores["toxicity"] - leet.scores["toxicity"]) < 0.25


def test_windows_cover_the_whole_text_with_overlap() -> None:
    text = " ".join(f"word{i}" for i in range(1500))
    parts = windows(text)
    assert windows("short text") == ["short text"]
    assert len(parts) > 1 and all(len(p) <= WINDOW_CHARS for p in parts)
    assert parts[0].startswith("word0 ") and parts[-1].endswith("word1499")
    words = set(text.split())
    assert set(" ".join(parts).split()) == words  # nothing lost at a cut
    for before, after in zip(parts, parts[1:], strict=False):
        assert before.split()[-1] in after  # consecutive windows overlap


def test_a_long_text_is_scored_whole_and_per_sentence() -> None:
    short = "You are kind. Thanks."
    assert text_pieces(short) == ([short], [])
    long = "First line here. " * 40 + "Then a threat!\nAnd more"
    whole, sentences = text_pieces(long)
    assert whole == windows(long) and len(whole) == 2
    assert sentences == ["First line here.", "Then a threat!", "And more"]


def test_spam_is_read_from_a_posts_windows_and_the_rest_from_every_piece() -> None:
    pieces = post_pieces(["short post", "Some words here. " * 20 + "\nhttps://example.com"])
    assert pieces.owner.tolist()[0] == 0 and pieces.window.tolist()[:2] == [True, True]
    spam, threat = 1.0, 0.9  # what the link's own line scores, alone
    link = pieces.texts.index("https://example.com")
    ensemble = np.full((len(pieces.texts), 2), 0.1, dtype=np.float32)
    ensemble[link] = (threat, spam)
    scores = TextScores(["threat", "spam"], {"head": ensemble}, ensemble)
    got = whole_posts(scores, pieces)
    np.testing.assert_allclose(got.ensemble, [[0.1, 0.1], [threat, 0.1]])
    np.testing.assert_array_equal(got.components["head"], got.ensemble)


def test_a_threat_after_4500_harmless_characters_flags_the_post(shipped: TextModel) -> None:
    harmless = "We walked along the river and talked about the garden and the weather. " * 64
    threat = "I am going to find you and kill you."
    assert len(harmless) >= 4500
    alone, buried, plain = shipped.predict([threat, harmless + threat, harmless])
    assert buried.scores["threat"] >= 0.9 * alone.scores["threat"] > plain.scores["threat"]
    assert buried.scores["threat"] >= 0.4  # over the default policy's review threshold (0.34)


def reviewed(answer: Signal, review: dict[str, float | None]) -> list[str]:
    """The categories whose review threshold ``answer`` reaches."""
    return [c for c, t in review.items() if t is not None and answer.scores.get(c, 0) >= t]


def test_emoji_are_read_as_what_they_show(shipped: TextModel) -> None:
    # Once every emoji was one unknown piece: fifty smileys scored illicit 0.98, sexual 0.96
    review, _ = policy_thresholds(DEFAULT_POLICY)
    for answer in shipped.predict(["😀" * 50, "🔥" * 20, "👍" * 20, "🙏" * 20, "🔥🔥🔥"]):
        assert not reviewed(answer, review), answer.scores
    knife, heart = shipped.predict(["I will 🔪 you", "I will ❤️ you"])
    assert knife.scores["threat"] >= review["threat"] > heart.scores["threat"]


def test_pride_and_trans_flags_are_not_flagged(shipped: TextModel) -> None:
    # With its zero-width joiner removed, "🏳️‍🌈" once read "white flag rainbow": toxicity 0.39.
    # Read as one (rainbow flag), 5b855a2af9 scores these toxicity 0.23, 0.20 and 0.18.
    review, _ = policy_thresholds(DEFAULT_POLICY)
    posts = ["🏳️\u200d🌈 pride month!", "congrats on graduating 🏳️\u200d⚧️",
             "I'm gay and proud 🏳️\u200d🌈"]
    for answer in shipped.predict(posts):
        assert not reviewed(answer, review) and answer.scores["toxicity"] < 0.3, answer


def test_each_text_answer_names_its_language(shipped: TextModel) -> None:
    de, en, short = shipped.predict(
        ["Ich finde das Wetter heute wirklich schön und warm.",
         "I think the weather today is really lovely and warm.", "lol"]
    )
    assert (de.language, en.language, short.language) == ("de", "en", "und")


def test_training_scores_posts_as_the_model_serves_them(shipped: TextModel) -> None:
    """Training's operating points and validation figures come from the same scores serving
    gives, long posts piece by piece included (a threat after harmless text)."""
    long = "What a nice day. " * 40 + "I will kill you."
    texts = ["you are an idiot", "lovely weather today", long]
    caches = {
        name: EmbeddingCache(shipped.encoders[name], None)
        for name in shipped.weights.heads
    }
    examples = [Example(t, "test", "en", "validation", {}) for t in texts]
    got = score_examples(shipped.weights, caches, examples)
    want = shipped.score(texts)
    assert len(post_pieces([long]).texts) > 1
    np.testing.assert_allclose(got.ensemble, want.ensemble, atol=1e-5)
