"""The labelled training data of the text model: one reader per public set in ``../shared/data``.

Why this package exists: every public moderation set labels a different slice of harm with its
own scheme, so training one multi-label model on all of them needs a single, reviewed map from
each scheme onto the native categories of ``deployments/signals.py``. A set only carries a label
for a category it really says something about; everything else stays unknown (absent), never
"missing means negative". The map is documented row by row in ``docs/labels.md`` (rendered from
``label_table()``, and a test keeps the two in step).

The validation split is fixed here too, so every trainer and evaluator sees the same held-out
rows: a set's official validation split where the copy has one, otherwise a stable 15% hash of
the normalised text. Splits are decided per text, not per row, and agree across sets: a text
in any official validation split is validation in every set, a text in an official train split
is train in every set, and every other text falls on the same side of the hash wherever it
appears. Within one set, duplicate texts are merged and their labels averaged.

``Example.text`` is the set's text cleaned minimally (HTML entities, wrappers, Reddit user
names); obfuscation handling is ``normalize.py``'s job, applied by the trainer as at serving.
Reading uses only the standard library, so the package does not depend on pandas.

Layout: ``common`` (types, reading, cleaning, the split key), one module of readers per family
(``english``, ``multilingual``, ``narrow`` single-category sets, ``prompts`` assistant-prompt
sets), ``registry`` (``SOURCES``, ``SKIPPED``, ``label_table``) and ``loading`` (merging,
splitting, sampling, hand-made and reviewer rows).
"""

from .common import (
    VALIDATION_SHARE,
    Example,
    Loader,
    Row,
    Split,
    clean,
    hash_split,
    labelled_by_set,
    text_key,
)
from .english import SPAN_CATEGORIES, TOXIC_SPANS, toxic_spans_votes
from .loading import (
    HANDMADE_DIR,
    fill_identity,
    load_examples,
    load_handmade,
    load_jsonl_examples,
)
from .registry import SKIPPED, SOURCES, label_table

__all__ = [
    "HANDMADE_DIR",
    "SKIPPED",
    "SOURCES",
    "SPAN_CATEGORIES",
    "TOXIC_SPANS",
    "VALIDATION_SHARE",
    "Example",
    "Loader",
    "Row",
    "Split",
    "clean",
    "fill_identity",
    "hash_split",
    "label_table",
    "labelled_by_set",
    "load_examples",
    "load_handmade",
    "load_jsonl_examples",
    "text_key",
    "toxic_spans_votes",
]
