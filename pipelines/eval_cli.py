"""`clusterdata eval`: measure the page extractors against the labelled evaluation set."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from pipelines.evaluation import Counts, EvaluationError, Report, evaluate, load_set

DEFAULT_SET = Path(__file__).resolve().parents[1] / "tests" / "eval"


def _floor(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise click.BadParameter("must be between 0 and 1")
    return value


@click.command("eval")
@click.option("--set", "set_dir", type=click.Path(path_type=Path, file_okay=False),
              default=DEFAULT_SET, show_default="tests/eval",
              help="Evaluation set: a folder with pages/ and gold/.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the figures as JSON instead of tables.")
@click.option("--misses", is_flag=True,
              help="Also list, page by page, the values output wrongly and the gold values missed.")
@click.option("--min-precision", type=float, callback=_floor, default=None,
              help="Exit 1 when overall precision is below this (0..1).")
@click.option("--min-recall", type=float, callback=_floor, default=None,
              help="Exit 1 when overall recall is below this (0..1).")
@click.option("--min-field-precision", type=float, callback=_floor, default=None,
              help="Exit 1 when any field's precision is below this (0..1).")
def eval_cmd(set_dir: Path, as_json: bool, misses: bool, min_precision: float | None,
             min_recall: float | None, min_field_precision: float | None) -> None:
    """Run the extractor on every page of the evaluation set (kind and language detected by the
    extractor) and print precision and recall per field, per kind, per language and overall."""
    try:
        from scrapers.extract.document import extract_document
        from scrapers.extract.errors import UnreadableDocument
    except ImportError as exc:
        raise click.ClickException(f"the extractor is not available ({exc})") from None
    try:
        report = evaluate(load_set(set_dir), extract_document, unreadable=UnreadableDocument)
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    else:
        print_report(report, Console(), misses=misses)
    failures = report.failures(min_precision, min_recall, min_field_precision)
    for failure in failures:
        click.echo(f"error: {failure}", err=True)
    if failures:
        sys.exit(1)


def _table(title: str, rows: Mapping[str, Counts], first: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first)
    for name in ("output", "gold", "correct", "precision", "recall"):
        table.add_column(name, justify="right")
    for name, c in rows.items():
        table.add_row(name, str(c.predicted), str(c.gold), str(c.correct),
                      _pct(c.precision), _pct(c.recall))
    return table


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def print_report(report: Report, console: Console, misses: bool = False) -> None:
    """The four tables, then kind detection and the pages the extractor could not read (and,
    with `misses`, every wrong and missed value, page by page)."""
    console.print(_table("Per field", dict(sorted(report.by_field.items())), "field"))
    console.print(_table("Per kind", dict(sorted(report.by_kind.items())), "kind"))
    console.print(_table("Per language", dict(sorted(report.by_lang.items())), "lang"))
    console.print(_table("Overall", {f"{len(report.pages)} pages": report.overall}, "set"))
    wrong_kind = [r for r in report.pages if not r.kind_correct]
    console.print(f"kind detection: {report.kind_accuracy:.3f} "
                  f"({len(report.pages) - len(wrong_kind)}/{len(report.pages)} pages)")
    for r in wrong_kind:
        console.print(f"  {r.page.stem}: got {r.predicted_kind or 'nothing'}")
    for r in report.pages:
        if r.error:
            console.print(f"  unreadable {r.page.stem}: {r.error}")
    if misses:
        table = Table(title="Wrong and missed values", title_justify="left")
        for name in ("page", "field", "wrong (output)", "missed (gold)"):
            table.add_column(name, overflow="fold")
        for r in report.pages:
            for name, c in sorted(r.counts.items()):
                if c.wrong or c.missed:
                    table.add_row(r.page.stem, name, " | ".join(c.wrong),
                                  " | ".join(c.missed))
        console.print(table)
