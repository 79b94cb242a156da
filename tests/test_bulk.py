"""Bulk-file plumbing: the raw contract for parsed files, and refusing files that are not."""

import zipfile

import polars as pl
import pytest

from scrapers.bulk import BulkFileError, non_null_list, raw_schema, sniff, to_raw_frame

FILE_ITEM = {
    "source_id": "eu_example_projects",
    "url": "https://example.org/export.csv",
    "fetched_at": "2026-11-23T00:00:00Z",
    "document_sha256": "b" * 64,
}


def test_to_raw_frame_completes_the_contract():
    frame = pl.DataFrame({"title": ["A"], "total_eligible_eur": ["12.5"]})
    out = to_raw_frame("projects", frame, FILE_ITEM)
    assert dict(out.schema) == raw_schema("projects")
    row = out.row(0, named=True)
    assert row["entity"] == "projects" and row["source_url"] == FILE_ITEM["url"]
    assert row["total_eligible_eur"] == 12.5 and row["reference"] is None


def test_to_raw_frame_refuses_unknown_columns():
    with pytest.raises(BulkFileError, match="outside the raw contract"):
        to_raw_frame("projects", pl.DataFrame({"budget": [1]}), FILE_ITEM)


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (b"<!DOCTYPE html><html>Service unavailable</html>", "csv", "HTML/XML page"),
        (b"<?xml version='1.0'?><Error><Code>BlobNotFound</Code></Error>", "csv", "HTML/XML"),
        (b"", "csv", "empty file"),
        (b"PK\x03\x04truncated", "zip", "not a complete zip"),
    ],
)
def test_sniff_refuses_what_is_not_the_file(tmp_path, body, kind, message):
    path = tmp_path / f"f.{kind}"
    path.write_bytes(body)
    with pytest.raises(BulkFileError, match=message):
        sniff(path, kind)


def test_sniff_accepts_real_files(tmp_path):
    csv = tmp_path / "a.csv"
    csv.write_text("a,b\n1,2\n")
    sniff(csv, "csv")
    zipped = tmp_path / "a.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("project.csv", "id;title\n1;x\n")
    sniff(zipped, "zip")


def test_non_null_list_keeps_values_in_order_and_is_null_when_none() -> None:
    frame = pl.DataFrame(
        {
            "a": ["x", None, None, "", None],
            "b": [None, "y", None, "z", "w"],
            "c": ["x", "v", None, None, None],
            "n": [1, None, None, None, 2],
        }
    )
    items = [pl.col("a"), pl.col("b"), pl.col("c"), pl.col("n")]
    got = frame.select(non_null_list(items).alias("l"))["l"].to_list()
    # A repeated value stays (dedup is the clean layer's), "" is a value, numbers become text.
    assert got == [["x", "x", "1"], ["y", "v"], None, ["", "z"], ["w", "2"]]
    # The same as the row-by-row concat_list it replaces, and the same in a lazy plan.
    slow = pl.concat_list([i.cast(pl.Utf8) for i in items]).list.drop_nulls()
    expected = frame.select(pl.when(slow.list.len() > 0).then(slow).alias("l"))
    assert frame.lazy().select(non_null_list(items).alias("l")).collect().equals(expected)
