"""CHANGELOG.md of a release: rows added, removed and changed per table and per source since the
previous release, compared by primary key in SQL on the two releases' SQLite files."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from schemas import TABLE_MODELS
from warehouse.ddl import primary_key, quote

# Bookkeeping of the last run, not data: a refresh that changes nothing else is not a change
# (and not a new release, see warehouse.release.content_hash). A record's last_seen (history)
# moves every refresh that serves it.
VOLATILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "sources": ("last_run_at", "last_success"),
    "record_versions": ("last_seen",),
}
# A log of the refreshes themselves: it grows every run, so it is left out of the content hash (a
# refresh that changed no data is still not a new release).
RUN_LOG_TABLES: tuple[str, ...] = ("source_health",)


@dataclass(frozen=True)
class TableChange:
    """Counts of one table (and one source, or None for tables without source_id)."""

    table: str
    source_id: str | None
    added: int
    removed: int
    changed: int


def _columns(conn: sqlite3.Connection, schema: str, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f"PRAGMA {schema}.table_info({quote(table)})")]


def _grouped(conn: sqlite3.Connection, sql: str) -> dict[str | None, int]:
    return {source: n for source, n in conn.execute(sql)}


def compare_databases(new_db: Path, old_db: Path, tables: list[str]) -> list[TableChange]:
    """Per table and source: rows whose primary key is only in the new file (added), only in
    the old (removed), or in both with a different value in a shared column (changed)."""
    conn = sqlite3.connect("file::memory:", uri=True)
    with contextlib.closing(conn):
        conn.execute("ATTACH DATABASE ? AS new", (f"{Path(new_db).resolve().as_uri()}?mode=ro",))
        conn.execute("ATTACH DATABASE ? AS old", (f"{Path(old_db).resolve().as_uri()}?mode=ro",))
        changes: list[TableChange] = []
        for table in tables:
            pk = quote(primary_key(TABLE_MODELS[table]))
            t = quote(table)
            new_cols = _columns(conn, "new", table)
            old_cols = _columns(conn, "old", table)
            group_new = "n.source_id" if "source_id" in new_cols else "NULL"
            group_old = "o.source_id" if "source_id" in old_cols else "NULL"
            if not old_cols:
                added = _grouped(conn, f"SELECT {group_new}, count(*) FROM new.{t} n GROUP BY 1")
                removed: dict[str | None, int] = {}
                changed: dict[str | None, int] = {}
            else:
                added = _grouped(
                    conn,
                    f"SELECT {group_new}, count(*) FROM new.{t} n WHERE NOT EXISTS "
                    f"(SELECT 1 FROM old.{t} o WHERE o.{pk} = n.{pk}) GROUP BY 1",
                )
                removed = _grouped(
                    conn,
                    f"SELECT {group_old}, count(*) FROM old.{t} o WHERE NOT EXISTS "
                    f"(SELECT 1 FROM new.{t} n WHERE n.{pk} = o.{pk}) GROUP BY 1",
                )
                volatile = set(VOLATILE_COLUMNS.get(table, ()))
                shared = [c for c in new_cols if c in old_cols and c not in volatile]
                differs = " OR ".join(f"n.{quote(c)} IS NOT o.{quote(c)}" for c in shared)
                changed = _grouped(
                    conn,
                    f"SELECT {group_new}, count(*) FROM new.{t} n JOIN old.{t} o "
                    f"ON o.{pk} = n.{pk} WHERE {differs or '0'} GROUP BY 1",
                )
            for source in sorted(set(added) | set(removed) | set(changed), key=str):
                changes.append(
                    TableChange(
                        table,
                        source,
                        added.get(source, 0),
                        removed.get(source, 0),
                        changed.get(source, 0),
                    )
                )
        return changes


def changelog_markdown(
    release_id: str,
    previous: str | None,
    changes: list[TableChange],
    row_counts: dict[str, int],
) -> str:
    """CHANGELOG.md: a per-table summary, then per table and source (rows that changed only in
    the sources table's run timestamps do not count)."""
    lines = [f"# Changes in clusterdata release {release_id}", ""]
    if previous is None:
        lines += [
            "This is the first release: there is no earlier release to compare with.",
            "",
            "| table | rows |",
            "|---|---|",
            *[f"| `{t}` | {n} |" for t, n in row_counts.items()],
            "",
        ]
        return "\n".join(lines)
    lines += [
        f"Compared with the previous release, {previous}, by primary key. A row is changed "
        "when any shared column differs (the sources table's run timestamps "
        f"{', '.join(VOLATILE_COLUMNS['sources'])} and record_versions.last_seen excepted).",
        "",
        "| table | rows | added | removed | changed |",
        "|---|---|---|---|---|",
    ]
    for table, rows in row_counts.items():
        mine = [c for c in changes if c.table == table]
        lines.append(
            f"| `{table}` | {rows} | {sum(c.added for c in mine)} | "
            f"{sum(c.removed for c in mine)} | {sum(c.changed for c in mine)} |"
        )
    lines.append("")
    moved = [c for c in changes if c.added or c.removed or c.changed]
    if not moved:
        lines += ["No row was added, removed or changed.", ""]
        return "\n".join(lines)
    lines += [
        "## Per source",
        "",
        "| table | source | added | removed | changed |",
        "|---|---|---|---|---|",
    ]
    for c in moved:
        source = f"`{c.source_id}`" if c.source_id else "—"
        lines.append(f"| `{c.table}` | {source} | {c.added} | {c.removed} | {c.changed} |")
    lines.append("")
    return "\n".join(lines)
