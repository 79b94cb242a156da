"""The scorer behind `clusterdata eval`, on hand-made predictions against hand-made gold.

No extractor is involved: the extractor is a parameter of `evaluate`, and these tests pass small
fakes, so the scorer is tested on its own."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from pipelines.cli import main
from pipelines.evaluation import (
    EvaluationError,
    evaluate,
    load_set,
    norm_text,
    score_page,
    validate_record,
)

URL = "https://example.org/call"
CALL = {"record_type": "call", "title": "Cluster Call 2021", "deadline_date": "2021-12-06",
        "budget_eur": 2550000, "eligible_applicants": ["SMEs", "Universities"], "url": URL,
        "lang": "en"}
PROJECT = {"record_type": "project", "acronym": "CLAMTEX", "total_eligible_eur": 518314.72,
           "participants": [{"name": "Pôle EMC2", "role": "coordinator", "country": "FR"},
                            {"name": "ATEVAL", "role": "partner"}],
           "url": URL, "lang": "fr"}


def totals(counts: dict[str, Any]) -> tuple[int, int, int]:
    return (sum(c.predicted for c in counts.values()), sum(c.gold for c in counts.values()),
            sum(c.correct for c in counts.values()))


def test_a_perfect_prediction_scores_one_and_one() -> None:
    counts = score_page([dict(CALL)], [CALL])
    predicted, gold, correct = totals(counts)
    assert predicted == gold == correct == 7  # 5 scalars + 2 list elements
    assert all(c.precision == 1 and c.recall == 1 for c in counts.values())


def test_a_wrong_number_lowers_precision_and_recall_of_that_field_only() -> None:
    counts = score_page([{**CALL, "budget_eur": 510000}], [CALL])
    assert counts["budget_eur"].precision == 0 and counts["budget_eur"].recall == 0
    assert (counts["budget_eur"].wrong, counts["budget_eur"].missed) == (["510000"], ["2550000"])
    assert counts["title"].precision == 1
    assert totals(counts) == (7, 7, 6)


def test_a_missing_value_lowers_recall_not_precision() -> None:
    pred = {k: v for k, v in CALL.items() if k != "deadline_date"}
    counts = score_page([pred], [CALL])
    assert counts["deadline_date"].predicted == 0 and counts["deadline_date"].recall == 0
    assert counts["deadline_date"].precision is None
    assert totals(counts) == (6, 7, 6)


@pytest.mark.parametrize(("value", "hit"), [(2550000 * 1.004, True), (2550000 * 0.996, True),
                                            (2550000 * 1.006, False), ("2550000", False)])
def test_numbers_match_within_half_a_percent(value: Any, hit: bool) -> None:
    counts = score_page([{**CALL, "budget_eur": value}], [CALL]) if not isinstance(
        value, str) else None
    if counts is None:
        with pytest.raises(EvaluationError, match="budget_eur: expected a non-negative number"):
            score_page([{**CALL, "budget_eur": value}], [CALL])
        return
    assert counts["budget_eur"].correct == int(hit)


def test_strings_compare_after_case_and_whitespace_normalisation() -> None:
    counts = score_page([{**CALL, "title": "  cluster\n CALL   2021 "}], [CALL])
    assert counts["title"].correct == 1
    assert norm_text("“Ignition”.") == "ignition"
    assert score_page([{**CALL, "title": "Cluster Call 2022"}], [CALL])["title"].correct == 0


def test_lists_score_as_sets_of_values() -> None:
    pred = {**CALL, "eligible_applicants": ["universities", "SMEs", "SMEs", "Regions"]}
    c = score_page([pred], [CALL])["eligible_applicants"]
    assert (c.predicted, c.gold, c.correct) == (3, 2, 2)  # a duplicate is one value


def test_participants_match_by_name_then_role_and_country_each_count() -> None:
    pred = {**PROJECT, "participants": [
        {"name": "pôle  emc2", "role": "partner", "country": "FR"},  # role wrong
        {"name": "ATEVAL", "role": "partner", "country": "ES"},  # country not in gold: unscored
        {"name": "Invented Cluster", "role": "partner", "country": "IT"},
    ]}
    counts = score_page([pred], [PROJECT])
    name, role, country = (counts[f"participants.{s}"] for s in ("name", "role", "country"))
    assert (name.predicted, name.gold, name.correct) == (3, 2, 2)
    assert (role.predicted, role.gold, role.correct) == (3, 2, 1)
    assert (country.predicted, country.gold, country.correct) == (2, 1, 1)
    assert name.wrong == ["Invented Cluster"] and role.wrong == [
        "pôle  emc2: partner", "Invented Cluster: partner"]
    assert role.missed == ["Pôle EMC2: coordinator"] and name.missed == []


def test_an_explicit_null_in_the_gold_penalises_any_value() -> None:
    gold = {**CALL, "budget_eur": None}  # e.g. the page gives the budget in PLN
    assert score_page([{**CALL, "budget_eur": 15300000}], [gold])["budget_eur"].predicted == 1
    counts = score_page([{**CALL, "budget_eur": 15300000}], [gold])["budget_eur"]
    assert (counts.predicted, counts.gold, counts.correct) == (1, 0, 0)
    assert score_page([{**CALL, "budget_eur": None}], [gold])["budget_eur"].predicted == 0


def test_a_field_absent_from_the_gold_is_not_scored() -> None:
    gold = {k: v for k, v in CALL.items() if k != "title"}
    counts = score_page([dict(CALL)], [gold])
    assert "title" not in counts


def test_unknown_fields_and_bad_values_are_rejected() -> None:
    with pytest.raises(EvaluationError, match="unknown field 'budget'"):
        score_page([{**CALL, "budget": 1}], [CALL])
    with pytest.raises(EvaluationError, match="YYYY-MM-DD"):
        validate_record({**CALL, "deadline_date": "6 December 2021"})
    with pytest.raises(EvaluationError, match="role"):
        validate_record({**PROJECT, "participants": [{"name": "X", "role": "leader"}]})
    with pytest.raises(EvaluationError, match="alpha-2"):
        validate_record({**PROJECT, "participants": [{"name": "X", "country": "HUN"}]})
    with pytest.raises(EvaluationError, match="record_type"):
        validate_record({"record_type": "partnership"})


def test_an_extra_record_counts_against_precision_and_a_wrong_kind_scores_nothing() -> None:
    counts = score_page([dict(CALL), {**CALL, "title": "Another call"}], [CALL])
    assert counts["title"].predicted == 2 and counts["title"].correct == 1
    wrong_kind = score_page([{"record_type": "project", "title": "Cluster Call 2021",
                              "url": URL, "lang": "en"}], [CALL])
    # url and lang still count (language detection apart from kind detection); the title of
    # a record of the wrong type is wrong output.
    assert wrong_kind["lang"].correct == wrong_kind["url"].correct == 1
    assert (wrong_kind["title"].predicted, wrong_kind["title"].correct) == (1, 0)
    assert totals(wrong_kind) == (3, 7, 2)


def write_set(root: Path, gold_records: list[dict[str, Any]], stem: str = "01_call_en") -> None:
    (root / "pages").mkdir(parents=True)
    (root / "gold").mkdir()
    (root / "pages" / f"{stem}.html").write_text("<html><body>page</body></html>")
    kind, lang = stem.split("_")[1:]
    (root / "gold" / f"{stem}.json").write_text(json.dumps(
        {"kind": kind, "lang": lang, "url": URL, "records": gold_records}))


def test_evaluate_passes_auto_kind_and_language_and_aggregates(tmp_path: Path) -> None:
    write_set(tmp_path, [CALL])
    calls = []

    def extractor(body: bytes, **kwargs: Any) -> list[dict[str, Any]]:
        calls.append(kwargs)
        return [{**CALL, "budget_eur": 1.0}]

    report = evaluate(load_set(tmp_path), extractor)
    assert calls == [{"url": URL, "content_type": "text/html; charset=utf-8", "kind": "auto",
                      "lang": "auto"}]
    assert report.kind_accuracy == 1
    assert report.overall.precision == pytest.approx(6 / 7)
    assert report.by_kind["call"].correct == report.by_lang["en"].correct == 6
    assert report.failures(0.9, None) == ["overall precision 0.857 is below 0.9"]
    assert report.failures(0.8, 0.8) == []
    assert report.failures(None, None, 0.5) == ["precision of budget_eur 0.000 is below 0.5"]


def test_an_unreadable_page_scores_as_empty_and_is_reported(tmp_path: Path) -> None:
    write_set(tmp_path, [CALL])

    class Unreadable(Exception):
        pass

    def extractor(body: bytes, **kwargs: Any) -> list[dict[str, Any]]:
        raise Unreadable("not a page\nmore")

    report = evaluate(load_set(tmp_path), extractor, unreadable=Unreadable)
    assert report.overall.recall == 0 and report.overall.precision is None
    assert report.as_dict()["errors"] == {"01_call_en": "not a page"}
    assert report.kind_accuracy == 0


def test_load_set_rejects_gold_that_disagrees_with_its_name(tmp_path: Path) -> None:
    write_set(tmp_path, [PROJECT], stem="01_call_en")
    with pytest.raises(EvaluationError, match="a call page gives call records"):
        load_set(tmp_path)


@pytest.fixture
def fake_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stand in for scrapers.extract.document so the command is tested without it."""
    module = types.ModuleType("scrapers.extract.document")
    module.extract_document = lambda body, **kw: [{**CALL, "budget_eur": 1.0}]  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scrapers.extract.document", module)


def test_cli_eval_reports_a_bad_set_in_one_line(
        tmp_path: Path, capsys: Any, fake_extractor: None) -> None:
    assert main(["eval", "--set", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path} is not an evaluation set (needs pages/ and gold/)")


def test_cli_eval_prints_tables_and_fails_a_missed_floor(
        tmp_path: Path, capsys: Any, fake_extractor: None) -> None:
    write_set(tmp_path / "set", [CALL])
    assert main(["eval", "--set", str(tmp_path / "set"), "--min-recall", "0.8"]) == 0
    out = capsys.readouterr().out
    assert "Per field" in out and "Per language" in out and "budget_eur" in out
    assert "Wrong and missed" not in out
    assert main(["eval", "--set", str(tmp_path / "set"), "--misses"]) == 0
    assert "2550000" in capsys.readouterr().out
    assert main(["eval", "--set", str(tmp_path / "set"), "--json", "--min-precision", "0.9"]) == 1
    captured = capsys.readouterr()
    figures = json.loads(captured.out)
    assert figures["overall"]["correct"] == 6
    assert figures["by_page"]["01_call_en"]["wrong"] == {"budget_eur": ["1.0"]}
    assert captured.err.strip() == "error: overall precision 0.857 is below 0.9"


def test_cli_eval_rejects_a_floor_outside_zero_one(capsys: Any) -> None:
    assert main(["eval", "--min-precision", "97"]) == 2
    assert "must be between 0 and 1" in capsys.readouterr().err
