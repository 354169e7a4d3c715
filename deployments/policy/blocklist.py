"""A policy's own blocklist: terms and patterns a community never wants, whatever the scores.

Models miss a community's local slurs, scam domains and brigading phrases; a blocklist names
them. Patterns are compiled with RE2, whose matching time is linear in the text, so no pattern
a policy author writes can backtrack catastrophically on a hostile post. A pattern RE2 refuses
(backreferences, lookaround, bad syntax) fails the policy check at load, with its location.

Terms and patterns are matched against the raw text and against its normalised form (the
normaliser the models use; for terms also with case and accents folded, ``match_form``), so
"s.l.u.r", "ｓｌｕｒ" or a zero-width space inside a blocked word is blocked as the plain word
is. A pattern keeps its own case rules: ``(?i)`` makes it ignore case.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import re2

from deployments.normalize import match_form, normalize

BlocklistAction = Literal["review", "block"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported by the policy check, not stderr


def compile_pattern(source: str) -> Any:
    """The compiled RE2 pattern, or ``ValueError`` saying why RE2 refuses it."""
    try:
        return re2.compile(source, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise ValueError(str(reason)) from None


def term_pattern(term: str) -> str:
    """A term matches as a whole word (or phrase), in any case, as written or normalised."""
    forms = dict.fromkeys((term, match_form(term)))
    body = "|".join(str(re2.escape(form)) for form in forms)
    return r"(?i)(?:^|\W)(?:" + body + r")(?:$|\W)"


@dataclass(frozen=True)
class Blocklist:
    terms: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    action: BlocklistAction = "block"

    @cached_property
    def _compiled(self) -> list[tuple[str, Any, bool]]:
        """(name, compiled pattern, whether it is a term) per entry."""
        named = [(f"term {t!r}", term_pattern(t), True) for t in self.terms]
        named += [(f"pattern {p!r}", p, False) for p in self.patterns]
        return [(name, compile_pattern(source), term) for name, source, term in named]

    def matches(self, text: str) -> list[str]:
        """Which terms and patterns occur in ``text``, as ``term 'x'`` / ``pattern 'y'``."""
        plain = normalize(text)
        forms = {True: {text, match_form(text)}, False: {text, plain}}
        return [
            name
            for name, pattern, term in self._compiled
            if any(pattern.search(form) for form in forms[term])
        ]

    def to_dict(self) -> dict[str, Any]:
        return {"terms": list(self.terms), "patterns": list(self.patterns), "action": self.action}

    @classmethod
    def of(
        cls, terms: Sequence[str], patterns: Sequence[str], action: BlocklistAction
    ) -> Blocklist:
        return cls(tuple(terms), tuple(patterns), action)
