"""The regex fallback: a model-free lexicon scorer that answers when the text models cannot."""

from deployments.fallback.lexicon import (
    LEXICON_PATH,
    LexiconError,
    RegexScorer,
    parse_lexicon,
    term_pattern,
)

__all__ = [
    "LEXICON_PATH",
    "LexiconError",
    "RegexScorer",
    "parse_lexicon",
    "term_pattern",
]
