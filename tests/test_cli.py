"""The command line: documented, one-line errors, non-zero exits for user mistakes."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.cli import cli, main

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, check=False, cwd=ROOT)


def test_every_command_has_help_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    for name, command in cli.commands.items():
        assert command.help, name
        assert f"clusterdata {name}" in readme, f"`clusterdata {name}` is not in README.md"
        proc = run(name, "--help")
        assert proc.returncode == 0 and "Usage:" in proc.stdout


def test_every_readme_command_exists():
    readme = (ROOT / "README.md").read_text()
    # Commands appear in code: at a line start in a block, or after a backtick.
    used = set(re.findall(r"(?m)(?:^\s*|`)clusterdata ([a-z][a-z-]+)", readme))
    assert used <= set(cli.commands), used - set(cli.commands)


def test_sources_lists_one_line_per_source():
    proc = run("sources")
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == len(list((ROOT / "scrapers" / "sources").glob("*.yml")))
    assert any(line.startswith("pt_ticept_projects ") for line in lines)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["crawl", "nope"], 1, "error: unknown source nope; `clusterdata sources` lists them"),
        (["refresh", "--source", "nope"], 1, "error: unknown source nope"),
        (["refresh", "--bogus"], 2, "error: No such option '--bogus'."),
        (["crawl"], 2, "error: Missing argument 'SOURCE_ID...'."),
        (["refresh", "--offline", "--recordings", "/nonexistent"], 1,
         "error: recordings directory /nonexistent does not exist"),
        (["refresh", "--run-date", "23/11/2026"], 1, "error: --run-date '23/11/2026' is not"),
        (["serve", "--port", "0"], 2, "error: Invalid value for '--port'"),
        (["crawl", "pt_ticept_projects", "--offline", "--record", "x"], 1,
         "error: --record records live responses; drop --offline"),
    ],
)
def test_user_mistakes_get_one_line_and_non_zero(args, code, message):
    proc = run(*args)
    assert proc.returncode == code
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert err[0].startswith(message), err[0]
    assert "Traceback" not in proc.stderr


def test_missing_recordings_for_a_source(tmp_path):
    (tmp_path / "pt_ticept_projects").mkdir()
    proc = run("crawl", "pt_ticept_projects", "--offline", "--recordings", str(tmp_path),
               "--data-dir", str(tmp_path / "data"))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no recordings for pt_ticept_projects in")


def test_serve_without_a_database_says_what_to_do(tmp_path):
    code = main(["serve", "--data-dir", str(tmp_path)])
    assert code == 1
    proc = run("serve", "--data-dir", str(tmp_path))
    assert "run `clusterdata refresh --offline --data-dir" in proc.stderr


def test_crawl_writes_raw_jsonl(tmp_path):
    proc = run("crawl", "pt_ticept_projects", "--offline", "--data-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    files = list((tmp_path / "raw" / "pt_ticept_projects").glob("*.jsonl"))
    assert len(files) == 1
    assert re.fullmatch(r"\d{8}T\d{12}Z\.jsonl", files[0].name)
    assert "pt_ticept_projects: 2 items from 1 pages" in proc.stdout
