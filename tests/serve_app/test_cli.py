from __future__ import annotations

from pathlib import Path

import pytest

from deployments.policy.loading import BUILTIN_POLICY_DIR
from serve_app.cli import main


def test_policy_check_passes_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted((BUILTIN_POLICY_DIR).glob("*.yaml"))]
    assert main(["policy", "check", *files]) == 0
    assert capsys.readouterr().out.count(": ok") == len(files)


def test_policy_check_prints_each_problem_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ncategories:\n  toxicty: {review: 0.5, block: 0.9}\n"
        "  insult: {review: 0.9, block: 0.5}\n"
    )
    assert main(["policy", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:3:" in out and "toxicity" in out
    assert "bad.yaml:4:" in out


def test_missing_file_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy", "check", "/no/such/policy.yaml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modserve: ") and err.count("\n") == 1


def test_missing_data_dir_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "text", "--data", "/no/such/dir"]) == 2
    assert "data directory" in capsys.readouterr().err


def test_eval_with_a_broken_policy_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ncategories:\n  toxicty: {review: 0.5, block: 0.9}\n")
    assert main(["eval", "text", "--parts", "fairness", "--policy", str(bad)]) == 2
    assert "not a valid policy" in capsys.readouterr().err
