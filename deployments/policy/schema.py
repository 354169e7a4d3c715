"""The policy file format: what a policy YAML file may say, as pydantic models.

This is the edge where untrusted text becomes data. Every key is declared here with its type
and range, and unknown keys are refused, so a typo in a policy file is an error with a location
(see ``diagnostics``) instead of a rule that silently never applies. Inside the service a
validated file becomes a ``loading.Policy`` dataclass; nothing else reads these models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from deployments.policy.blocklist import BlocklistAction, compile_pattern
from deployments.signals import ALL_CATEGORIES, Platform

OnDegraded = Literal["decide", "review"]
OnMissingImage = Literal["review", "allow"]


def _known_category(name: str) -> str:
    if name not in ALL_CATEGORIES:
        raise PydanticCustomError("unknown_category", "unknown category", {"name": name})
    return name


CategoryKey = Annotated[str, AfterValidator(_known_category)]


class ThresholdsModel(BaseModel):
    """``{review, block}`` for one category; ``null`` means "never" for that step."""

    model_config = ConfigDict(extra="forbid")

    review: float | None = Field(ge=0.0, le=1.0, strict=True)
    block: float | None = Field(ge=0.0, le=1.0, strict=True)

    @model_validator(mode="after")
    def _review_not_above_block(self) -> ThresholdsModel:
        if self.review is not None and self.block is not None and self.review > self.block:
            raise PydanticCustomError(
                "review_above_block",
                "review {review} is above block {block}",
                {"review": self.review, "block": self.block},
            )
        return self


def _re2_pattern(source: str) -> str:
    try:
        compile_pattern(source)
    except ValueError as exc:
        raise PydanticCustomError(
            "invalid_pattern", "RE2 refuses the pattern: {reason}", {"reason": str(exc)}
        ) from None
    return source


class BlocklistModel(BaseModel):
    """Terms (whole words, any case) and RE2 patterns that decide ``action`` on a match."""

    model_config = ConfigDict(extra="forbid")

    terms: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    patterns: list[Annotated[str, Field(min_length=1), AfterValidator(_re2_pattern)]] = Field(
        default_factory=list
    )
    action: BlocklistAction = "block"


class RateLimitModel(BaseModel):
    """Token bucket per author for requests under this policy (overrides the settings)."""

    model_config = ConfigDict(extra="forbid")

    per_second: float = Field(gt=0)
    burst: int = Field(gt=0, strict=True)


class PolicyModel(BaseModel):
    """A policy file as written; see deployments/policy/policies/default.yaml for every field."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    description: str = ""
    categories: dict[CategoryKey, ThresholdsModel]
    platforms: dict[Platform, dict[CategoryKey, ThresholdsModel]] = Field(default_factory=dict)
    on_degraded: OnDegraded = "decide"
    on_missing_image: OnMissingImage = "review"
    also_queue: list[Literal["allow", "block"]] = Field(default_factory=list)
    blocklist: BlocklistModel | None = None
    rate_limit: RateLimitModel | None = None
