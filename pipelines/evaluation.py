"""Score page extractors against the labelled evaluation set (tests/eval/).

The set is pages (tests/eval/pages/<NN>_<kind>_<lang>.html|.pdf) and one gold file per page
(tests/eval/gold/<same stem>.json: {"kind", "lang", "url", "records": [...]}) in the issue-5
record shapes. Scoring follows the contract written down with the extractors:

- precision = correct non-null values output / non-null values output; recall = correct / gold
  values; counted per field, then summed per kind, per language and overall;
- a field absent from a page's gold is not scored on that page, neither precision nor recall,
  which is how the gold leaves out what the text states ambiguously; a field the gold sets to
  null explicitly is one the text shows to have no valid value (an amount in PLN, a date with
  no year): any value output there is wrong (precision only, nothing to recall);
- numbers match within 0.5 %, strings after Unicode/whitespace/case normalisation, lists as sets
  (each element one value), participants and clusters matched by normalised name, then their
  name, role/sector and country each one value.

Everything here is a pure function of its arguments; the extractor is a parameter so the scorer
can be tested (and used) without any particular extractor installed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The public record shapes of issue 5. Types: "str", "num", "date", "list" (of strings),
# "people" (participants), "clusters".
FIELDS: dict[str, dict[str, str]] = {
    "project": {
        "title": "str", "acronym": "str", "reference": "str", "lead_organisation": "str",
        "programme": "str", "funds": "list", "operation_type": "str",
        "total_eligible_eur": "num", "eu_contribution_eur": "num", "cofinancing_rate": "num",
        "start_date": "date", "end_date": "date", "regions": "list", "description": "str",
        "participants": "people", "url": "str", "lang": "str",
    },
    "call": {
        "title": "str", "identifier": "str", "programme": "str", "publisher": "str",
        "call_type": "str", "opening_date": "date", "deadline_date": "date", "budget_eur": "num",
        "eligible_applicants": "list", "url": "str", "lang": "str",
    },
    "cluster-list": {"clusters": "clusters", "url": "str", "lang": "str"},
}
KINDS = ("call", "project", "partnership", "cluster-list")
# A partnership page is read as the project the partnership carries out.
RECORD_TYPE_OF_KIND = {"call": "call", "project": "project", "partnership": "project",
                       "cluster-list": "cluster-list"}
ROLES = {"coordinator", "lead_partner", "partner", "associated_partner", "beneficiary"}
MEMBER_FIELDS = {"participants": ("name", "role", "country"),
                 "clusters": ("name", "country", "sector")}
FUNDS = {"ERDF", "ESF", "ESF+", "CF", "EAFRD", "EMFF", "EMFAF", "JTF", "IPA", "ENI", "RRF",
         "EEA"}
NUMBER_TOLERANCE = 0.005
PAGE_FIELDS = ("url", "lang")  # in every record type
STEM = re.compile(
    r"^(?P<nn>\d{2})_(?P<kind>call|project|partnership|cluster-list)_(?P<lang>[a-z]{2})$"
)
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".pdf": "application/pdf"}

Extractor = Callable[..., list[dict[str, Any]]]


class EvaluationError(ValueError):
    """The set or a prediction breaks the contract; the message is one line."""


# ---------------------------------------------------------------------------- validation


def validate_record(record: Mapping[str, Any], where: str = "record") -> None:
    """Raise EvaluationError unless `record` has the contract's shape.

    Used on gold and on predictions alike: an unknown field is a contract break, and silently
    ignoring it would hide a renamed field behind a recall drop.
    """
    rtype = record.get("record_type")
    if rtype not in FIELDS:
        raise EvaluationError(f"{where}: record_type {rtype!r} is not one of {sorted(FIELDS)}")
    spec = FIELDS[rtype]
    for name, value in record.items():
        if name == "record_type":
            continue
        if name not in spec:
            raise EvaluationError(f"{where}: unknown field {name!r} for a {rtype} record")
        if value is None:
            continue
        _validate_value(spec[name], name, value, f"{where}.{name}")


def _validate_value(kind: str, name: str, value: Any, where: str) -> None:
    if kind == "str":
        if not isinstance(value, str):
            raise EvaluationError(f"{where}: expected a string, got {value!r}")
        if name == "lang" and not re.fullmatch(r"[a-z]{2}", value):
            raise EvaluationError(f"{where}: {value!r} is not an ISO 639-1 code")
    elif kind == "num":
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise EvaluationError(f"{where}: expected a non-negative number, got {value!r}")
        if name == "cofinancing_rate" and value > 1:
            raise EvaluationError(f"{where}: a rate is a fraction 0..1, got {value!r}")
    elif kind == "date":
        if not isinstance(value, str) or not ISO_DATE.match(value):
            raise EvaluationError(f"{where}: expected a YYYY-MM-DD date, got {value!r}")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise EvaluationError(f"{where}: {value!r} is not a calendar date") from None
    elif kind == "list":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise EvaluationError(f"{where}: expected a list of strings, got {value!r}")
    else:  # people / clusters
        if not isinstance(value, list):
            raise EvaluationError(f"{where}: expected a list of objects, got {value!r}")
        allowed = MEMBER_FIELDS[name]
        for i, member in enumerate(value):
            if not isinstance(member, Mapping):
                raise EvaluationError(f"{where}[{i}]: expected an object, got {member!r}")
            for key, sub in member.items():
                if key not in allowed:
                    raise EvaluationError(f"{where}[{i}]: unknown field {key!r}")
                if sub is not None and not isinstance(sub, str):
                    raise EvaluationError(f"{where}[{i}].{key}: expected a string")
            if not member.get("name"):
                raise EvaluationError(f"{where}[{i}]: a member needs a name")
            role = member.get("role")
            if role is not None and role not in ROLES:
                raise EvaluationError(f"{where}[{i}].role: {role!r} is not one of {sorted(ROLES)}")
            country = member.get("country")
            if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
                raise EvaluationError(f"{where}[{i}].country: {country!r} is not ISO alpha-2")


def validate_gold(gold: Mapping[str, Any], stem: str) -> None:
    """Raise EvaluationError unless a gold file is well-formed and agrees with its file name."""
    match = STEM.match(stem)
    if not match:
        raise EvaluationError(f"{stem}: name is not NN_<kind>_<lang>")
    if set(gold) != {"kind", "lang", "url", "records"}:
        raise EvaluationError(f"{stem}: gold keys must be kind, lang, url, records")
    if gold["kind"] != match["kind"] or gold["lang"] != match["lang"]:
        raise EvaluationError(f"{stem}: kind/lang disagree with the file name")
    records = gold["records"]
    if not isinstance(records, list) or not records:
        raise EvaluationError(f"{stem}: records must be a non-empty list")
    for i, record in enumerate(records):
        validate_record(record, f"{stem}.records[{i}]")
        if record["record_type"] != RECORD_TYPE_OF_KIND[gold["kind"]]:
            raise EvaluationError(f"{stem}.records[{i}]: a {gold['kind']} page gives "
                                  f"{RECORD_TYPE_OF_KIND[gold['kind']]} records")
        for fund in record.get("funds") or []:
            if fund not in FUNDS:
                raise EvaluationError(f"{stem}.records[{i}].funds: {fund!r} is not an acronym")


# ---------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class EvalPage:
    """One page of the set with its gold."""

    stem: str
    path: Path
    kind: str
    lang: str
    url: str
    records: list[dict[str, Any]]

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.path.suffix]


def load_set(root: Path) -> list[EvalPage]:
    """Read every page of an evaluation set; each page must have exactly one gold file."""
    pages_dir, gold_dir = root / "pages", root / "gold"
    if not pages_dir.is_dir() or not gold_dir.is_dir():
        raise EvaluationError(f"{root} is not an evaluation set (needs pages/ and gold/)")
    pages = {p.stem: p for p in pages_dir.iterdir() if p.suffix in CONTENT_TYPES}
    golds = {p.stem: p for p in gold_dir.glob("*.json")}
    if len(pages) != len({p.stem for p in pages_dir.iterdir() if p.suffix in CONTENT_TYPES}):
        raise EvaluationError(f"{pages_dir}: two pages share a stem")
    if missing := sorted(set(pages) ^ set(golds)):
        raise EvaluationError(f"{root}: page and gold files do not pair up: {', '.join(missing)}")
    out = []
    for stem in sorted(pages):
        try:
            gold = json.loads(golds[stem].read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise EvaluationError(
                f"{golds[stem]}: not JSON ({exc.msg}, line {exc.lineno})"
            ) from None
        validate_gold(gold, stem)
        out.append(EvalPage(stem, pages[stem], gold["kind"], gold["lang"], gold["url"],
                            gold["records"]))
    if not out:
        raise EvaluationError(f"{root}: no pages")
    return out


# ---------------------------------------------------------------------------- comparing


def norm_text(value: str) -> str:
    """Compare strings as a reader would: NFKC, case-folded, whitespace collapsed, the outer
    punctuation and quotes stripped (a trailing full stop is not a different name)."""
    text = unicodedata.normalize("NFKC", value).casefold()
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .,;:!?\"'«»“”„‘’()[]")


def numbers_match(pred: float, gold: float) -> bool:
    """Numbers agree within 0.5 % of the gold value (rounding in the page, cents dropped)."""
    return abs(pred - gold) <= NUMBER_TOLERANCE * abs(gold) + 1e-9


def _scalar_match(kind: str, pred: Any, gold: Any) -> bool:
    if kind == "num":
        return (isinstance(pred, int | float) and not isinstance(pred, bool)
                and numbers_match(float(pred), float(gold)))
    if kind == "date":
        return pred == gold
    return isinstance(pred, str) and norm_text(pred) == norm_text(gold)


@dataclass
class Counts:
    """Values output, values in the gold, and correct ones (the same number for both sides)."""

    predicted: int = 0
    gold: int = 0
    correct: int = 0
    # What went wrong, for a person tuning an extractor: values output that are wrong, and
    # gold values not output.
    wrong: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def add(self, other: Counts) -> None:
        self.predicted += other.predicted
        self.gold += other.gold
        self.correct += other.correct
        self.wrong.extend(other.wrong)
        self.missed.extend(other.missed)

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.gold if self.gold else None


def _present(value: Any) -> bool:
    return value is not None and value != [] and value != ""


def _distinct(values: Any) -> set[str]:
    items = values if isinstance(values, list) else []
    return {norm_text(v) for v in items if isinstance(v, str)}


def _score_list(pred: Any, gold: list[str]) -> Counts:
    gold_set, pred_set = _distinct(gold), _distinct(pred)
    return Counts(len(pred_set), len(gold_set), len(pred_set & gold_set),
                  sorted(pred_set - gold_set), sorted(gold_set - pred_set))


def _score_members(name: str, pred: Any, gold: list[dict[str, Any]]) -> dict[str, Counts]:
    subfields = MEMBER_FIELDS[name]
    scored = [s for s in subfields if any(_present(m.get(s)) for m in gold)]
    out = {f"{name}.{s}": Counts() for s in scored}
    gold_by_name = {norm_text(m["name"]): m for m in gold}
    for m in gold_by_name.values():
        for s in scored:
            if s != "name" and _present(m.get(s)):
                out[f"{name}.{s}"].gold += 1
    out[f"{name}.name"].gold += len(gold_by_name)
    seen: set[str] = set()
    found: dict[str, set[str]] = {s: set() for s in scored}  # gold names whose value was hit
    for member in pred if isinstance(pred, list) else []:
        if not isinstance(member, Mapping) or not _present(member.get("name")):
            continue
        key = norm_text(str(member["name"]))
        if key in seen:  # a name listed twice is one value
            continue
        seen.add(key)
        match = gold_by_name.get(key)
        for s in scored:
            if not _present(member.get(s)):
                continue
            counts = out[f"{name}.{s}"]
            if s == "name":
                counts.predicted += 1
                if match is not None:
                    counts.correct += 1
                    found[s].add(key)
                else:
                    counts.wrong.append(str(member["name"]))
                continue
            if match is not None and not _present(match.get(s)):
                continue  # the gold leaves this member's value out: not scored
            counts.predicted += 1
            if match is not None and norm_text(str(member[s])) == norm_text(match[s]):
                counts.correct += 1
                found[s].add(key)
            else:
                counts.wrong.append(f"{member['name']}: {member[s]}")
    for key, m in gold_by_name.items():
        for s in scored:
            if _present(m.get(s)) and key not in found[s]:
                out[f"{name}.{s}"].missed.append(m["name"] if s == "name"
                                                 else f"{m['name']}: {m[s]}")
    return out


def score_record(pred: Mapping[str, Any] | None, gold: Mapping[str, Any]) -> dict[str, Counts]:
    """Counts per field for one predicted record against one gold record (pred None: missed)."""
    spec = FIELDS[gold["record_type"]]
    pred = pred or {}
    out: dict[str, Counts] = {}
    for name, gold_value in gold.items():
        if name == "record_type":
            continue
        kind, value = spec[name], pred.get(name)
        if gold_value is None:
            # An explicit null: the page states no such value (an amount in PLN, a date with
            # no year), so whatever is output is wrong; there is nothing to recall.
            if kind not in MEMBER_FIELDS:
                wrong = sorted(_distinct(value)) if kind == "list" else (
                    [repr(value)] if _present(value) else [])
                out[name] = Counts(predicted=len(wrong), wrong=wrong)
            continue
        if not _present(gold_value):
            continue
        if kind == "list":
            out[name] = _score_list(value, gold_value)
        elif kind in ("people", "clusters"):
            out.update(_score_members(name, value, gold_value))
        else:
            hit = _present(value) and _scalar_match(kind, value, gold_value)
            out[name] = Counts(int(_present(value)), 1, int(hit),
                               [repr(value)] if _present(value) and not hit else [],
                               [] if hit else [repr(gold_value)])
    return out


def _unmatched(pred: Mapping[str, Any], scored: set[str]) -> dict[str, Counts]:
    """A predicted record that matches no gold record: each of its values in a field the gold
    scores on this page is a value output and wrong."""
    out: dict[str, Counts] = {}
    for name, value in pred.items():
        if name == "record_type" or not _present(value):
            continue
        if name in MEMBER_FIELDS:
            members = [m for m in value if isinstance(m, Mapping)]
            for s in MEMBER_FIELDS[name]:
                key = f"{name}.{s}"
                if key in scored:
                    wrong = [str(m[s]) for m in members if _present(m.get(s))]
                    out[key] = Counts(predicted=len(wrong), wrong=wrong)
        elif name in scored:
            wrong = sorted(_distinct(value)) if isinstance(value, list) else [repr(value)]
            out[name] = Counts(predicted=len(wrong), wrong=wrong)
    return out


def _merge(into: dict[str, Counts], more: Mapping[str, Counts]) -> None:
    for name, counts in more.items():
        into.setdefault(name, Counts()).add(counts)


def _agreement(counts: Mapping[str, Counts]) -> int:
    return sum(c.correct for c in counts.values())


def score_page(predicted: list[Mapping[str, Any]], gold: list[Mapping[str, Any]]
               ) -> dict[str, Counts]:
    """Counts per field for one page: each gold record is paired with the predicted record of
    the same type that agrees with it most (greedy, in gold order), else with a record of another
    type for url and lang only; predicted values left over count as wrong output in the fields
    the page's gold scores."""
    for i, record in enumerate(predicted):
        validate_record(record, f"prediction[{i}]")
    left = list(range(len(predicted)))
    out: dict[str, Counts] = {}
    scored: set[str] = set()
    crossed: list[Mapping[str, Any]] = []
    for g in gold:
        best, best_counts = None, score_record(None, g)
        for i in left:
            if predicted[i].get("record_type") != g["record_type"]:
                continue
            counts = score_record(predicted[i], g)
            if best is None or _agreement(counts) > _agreement(best_counts):
                best, best_counts = i, counts
        if best is not None:
            left.remove(best)
        elif left:
            # No record of the right type: the first one left still answers for the page's
            # url and language, so that language detection is measured apart from kind
            # detection; its other values are wrong output.
            best = left.pop(0)
            shared = {k: v for k, v in g.items() if k in ("record_type", *PAGE_FIELDS)}
            best_counts.update(score_record(predicted[best], shared))
            crossed.append({k: v for k, v in predicted[best].items() if k not in PAGE_FIELDS})
        scored.update(best_counts)
        _merge(out, best_counts)
    for record in crossed + [predicted[i] for i in left]:
        _merge(out, _unmatched(record, scored))
    return out


# ---------------------------------------------------------------------------- the run


@dataclass
class PageResult:
    """What the extractor gave for one page, scored."""

    page: EvalPage
    counts: dict[str, Counts]
    predicted_kind: str | None
    error: str | None = None

    @property
    def kind_correct(self) -> bool:
        return self.predicted_kind == RECORD_TYPE_OF_KIND[self.page.kind]


@dataclass
class Report:
    """Counts aggregated per field, per kind, per language and overall."""

    pages: list[PageResult]
    by_field: dict[str, Counts] = field(default_factory=dict)
    by_kind: dict[str, Counts] = field(default_factory=dict)
    by_lang: dict[str, Counts] = field(default_factory=dict)
    overall: Counts = field(default_factory=Counts)

    @property
    def kind_accuracy(self) -> float:
        return sum(r.kind_correct for r in self.pages) / len(self.pages)

    def failures(self, min_precision: float | None, min_recall: float | None,
                 min_field_precision: float | None = None) -> list[str]:
        """The floors missed, as sentences; empty when every given floor is met."""
        out = []
        p, r = self.overall.precision, self.overall.recall
        if min_precision is not None and (p or 0.0) < min_precision:
            out.append(f"overall precision {_fmt(p)} is below {min_precision}")
        if min_recall is not None and (r or 0.0) < min_recall:
            out.append(f"overall recall {_fmt(r)} is below {min_recall}")
        if min_field_precision is not None:
            for name, counts in sorted(self.by_field.items()):
                if counts.precision is not None and counts.precision < min_field_precision:
                    out.append(f"precision of {name} {_fmt(counts.precision)} is below "
                               f"{min_field_precision}")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures (for `clusterdata eval --json` and for tracking over time)."""

        def table(rows: Mapping[str, Counts]) -> dict[str, dict[str, Any]]:
            return {k: _counts_dict(v) for k, v in sorted(rows.items())}

        return {
            "pages": len(self.pages),
            "kind_accuracy": round(self.kind_accuracy, 4),
            "overall": _counts_dict(self.overall),
            "by_field": table(self.by_field),
            "by_kind": table(self.by_kind),
            "by_lang": table(self.by_lang),
            "errors": {r.page.stem: r.error for r in self.pages if r.error},
            "by_page": {r.page.stem: {
                **{k: v for k, v in _counts_dict(_sum(r.counts.values())).items()
                   if k in ("predicted", "gold", "correct")},
                "wrong": {f: c.wrong for f, c in sorted(r.counts.items()) if c.wrong},
                "missed": {f: c.missed for f, c in sorted(r.counts.items()) if c.missed},
            } for r in self.pages},
            "kind_misses": {r.page.stem: r.predicted_kind for r in self.pages
                            if not r.kind_correct},
        }


def _sum(counts: Iterable[Counts]) -> Counts:
    total = Counts()
    for c in counts:
        total.add(c)
    return total


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _counts_dict(c: Counts) -> dict[str, Any]:
    return {"predicted": c.predicted, "gold": c.gold, "correct": c.correct,
            "precision": None if c.precision is None else round(c.precision, 4),
            "recall": None if c.recall is None else round(c.recall, 4)}


def aggregate(results: Iterable[PageResult]) -> Report:
    """Sum page counts per field, per kind (of the gold), per language (of the gold) and overall."""
    report = Report(pages=list(results))
    for result in report.pages:
        for name, counts in result.counts.items():
            report.by_field.setdefault(name, Counts()).add(counts)
            report.by_kind.setdefault(result.page.kind, Counts()).add(counts)
            report.by_lang.setdefault(result.page.lang, Counts()).add(counts)
            report.overall.add(counts)
    return report


def predicted_kind(records: list[Mapping[str, Any]]) -> str | None:
    """The record type an extractor settled on: that of its first record (None for none)."""
    return str(records[0].get("record_type")) if records else None


def evaluate(pages: Iterable[EvalPage], extractor: Extractor,
             unreadable: type[BaseException] | tuple[type[BaseException], ...] = ()) -> Report:
    """Run `extractor` on every page with kind and language left to it, and score the output.

    `unreadable` names the exception(s) that mean "this page could not be read": such a page
    scores as an empty prediction (every gold value missed) and its message is reported. Any
    other exception propagates: a crash in the extractor is a bug, not a low score.
    """
    results = []
    for page in pages:
        error = None
        try:
            predicted = extractor(page.path.read_bytes(), url=page.url,
                                  content_type=page.content_type, kind="auto", lang="auto")
        except unreadable as exc:  # type: ignore[misc]
            predicted, error = [], str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        counts = score_page(predicted, page.records)
        results.append(PageResult(page, counts, predicted_kind(predicted), error))
    return aggregate(results)
