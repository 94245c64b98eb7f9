"""course_lib.results: recorded numbers and claims (the runner's report: tests/test_course.py)."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib import results


def test_record_prints_and_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_NOTEBOOK", "99_test")
    v = results.record("test NLL", torch.tensor(81.25), "nats", note="embedded MNIST")
    assert v == pytest.approx(81.25)
    assert "test NLL = 81.25 nats  (embedded MNIST)" in capsys.readouterr().out
    saved = json.loads((tmp_path / "99_test.json").read_text())
    assert saved["test NLL"]["value"] == pytest.approx(81.25) and saved["test NLL"]["unit"] == "nats"


def test_record_rejects_non_numbers():
    with pytest.raises(TypeError, match="must be a number"):
        results.record("x", "12")
    with pytest.raises(ValueError, match="non-empty"):
        results.record("", 1.0)


def test_table(capsys):
    text = results.table([{"model": "a", "fid": 1.23456}, {"model": "bb", "fid": 10.0}], title="T")
    assert "model | fid" in text and "1.235" in text and text.startswith("T\n")
    with pytest.raises(ValueError):
        results.table([])


def test_claim_judges_and_writes(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("COURSE_NOTEBOOK", "99_claims")
    monkeypatch.setenv("COURSE_BUDGET", "lecture")
    assert results.claim("angle_deg", torch.tensor(0.5), at_most=1.0) is True
    assert "claim angle_deg: 0.5 (target <= 1) ✔" in capsys.readouterr().out
    assert results.claim("gain_db", 0.4, at_least=1.0) is False
    assert "claim gain_db: 0.4 (target >= 1) ✘" in capsys.readouterr().out
    assert results.claim("nan_fails", float("nan"), at_least=0.0) is False
    saved = json.loads((tmp_path / "99_claims.claims.json").read_text())
    assert saved["angle_deg"]["pass"] is True and saved["gain_db"]["pass"] is False


def test_claim_not_judged_at_smoke(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    assert results.claim("smoke_claim", 0.0, at_least=1.0) is None
    assert "(not judged at smoke)" in capsys.readouterr().out


def test_claim_rejects_bad_input():
    with pytest.raises(ValueError, match="snake_case"):
        results.claim("Bad Name", 1.0, at_least=0)
    with pytest.raises(ValueError, match="needs a target"):
        results.claim("no_target", 1.0)
    with pytest.raises(TypeError, match="must be a number"):
        results.claim("text_value", "1", at_least=0)
