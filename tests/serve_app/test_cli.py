from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployments.policy.loading import BUILTIN_POLICY_DIR
from serve_app.cli import main


def test_policy_check_passes_the_shipped_policies(capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(p) for p in sorted((BUILTIN_POLICY_DIR).glob("*.yaml"))]
    assert main(["policy", "check", *files]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok") == len(files)
    # The default policy's thresholds are the served model's operating points: a retrained
    # model whose points moved past them fails here until the policy is re-derived.
    assert "default.yaml: note" not in out


def test_policy_check_notes_thresholds_under_the_models_operating_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    low = tmp_path / "low.yaml"
    low.write_text("name: low\ncategories:\n  severe_toxicity: {review: 0.01, block: 0.02}\n"
                   "  spam: {review: 0.99999, block: null}\n  gore: {review: 0.1, block: 0.2}\n")
    assert main(["policy", "check", str(low)]) == 0  # a note, not a problem
    notes = [line for line in capsys.readouterr().out.splitlines() if ": note: " in line]
    assert len(notes) == 2
    assert "review thresholds" in notes[0] and "severe_toxicity 0.01 <" in notes[0]
    assert "block thresholds" in notes[1] and "severe_toxicity 0.02 <" in notes[1]
    assert "spam" not in "".join(notes) and "gore" not in "".join(notes)


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


def _artifact(folder: Path, version: str, points: dict[str, dict[str, float]]) -> Path:
    from deployments.text.model import MANIFEST_FILE

    folder.mkdir()
    (folder / MANIFEST_FILE).write_text(json.dumps({"version": version,
                                                    "operating_points": points}))
    return folder


def test_policy_derive_moves_thresholds_to_a_retrained_models_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("name: p\ncategories:\n  toxicity: {review: 0.74, block: 0.95}\n"
                      "  spam: {review: 0.90, block: null}\n")
    old = _artifact(tmp_path / "old", "v-old", {"toxicity": {"review": 0.741, "block": 0.952},
                                                 "spam": {"review": 0.83, "block": 0.99}})
    new = _artifact(tmp_path / "new", "v-new", {"toxicity": {"review": 0.70, "block": 0.97},
                                                 "spam": {"review": 0.93, "block": 0.995}})
    args = ["policy", "derive", str(policy), "--served", str(old), "--artifacts", str(new)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "toxicity review 0.74 -> 0.70" in out and "toxicity block 0.95 -> 0.97" in out
    assert "spam 0.90 < 0.93" in out  # set by hand, kept, and now under the new point
    assert "nothing written" in out and "0.74" in policy.read_text()
    assert main([*args, "--write"]) == 0
    assert "toxicity: {review: 0.70, block: 0.97}" in policy.read_text()
    assert main(["policy", "check", str(policy)]) == 0


def test_policy_derive_refuses_a_result_that_is_not_a_valid_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("name: p\ncategories:\n  toxicity: {review: 0.74, block: 0.80}\n")
    old = _artifact(tmp_path / "old", "v-old", {"toxicity": {"review": 0.74, "block": 0.90}})
    new = _artifact(tmp_path / "new", "v-new", {"toxicity": {"review": 0.85, "block": 0.99}})
    assert main(["policy", "derive", str(policy), "--served", str(old), "--artifacts", str(new),
                 "--write"]) == 2
    assert "p.yaml:3:" in capsys.readouterr().err  # review 0.85 over the hand-set block 0.80
    assert "0.74" in policy.read_text()
    assert main(["policy", "derive", str(policy), "--artifacts", str(tmp_path)]) == 2
