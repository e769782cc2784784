import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import main
from discovery.records.model import Scan
from discovery.storage.store import Store
from tests.builders import T0, make_report

ROOT = Path(__file__).resolve().parents[2]


def run(*argv):
    """Run the real program as a user would; return (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "ESTATEMAP_DB": "/nonexistent/should-not-be-used.db"})
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def filled_db(tmp_path):
    path = tmp_path / "estate.db"
    with Store(path) as s:
        scan = s.start_scan(Scan(kind="host", started_at=T0, targets=("app01",)))
        s.write_host_report(scan, make_report(hostname="app01"))
        s.finish_scan(scan, "completed")
    return path


def commands(parser):
    """Yield (name, subparser) for every leaf command."""
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            if sub._subparsers is None:
                yield name, sub
            else:
                yield from ((f"{name} {n}", s) for n, s in commands(sub))


def test_every_command_has_help_with_an_example_and_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    found = dict(commands(main.build_parser()))
    assert {"scan host", "export", "scans"} <= set(found)
    for name, sub in found.items():
        assert "Example: estatemap " + name in sub.format_help(), name
        assert f"estatemap {name}" in readme, name


def test_version():
    code, out, _ = run("--version")
    assert code == 0 and re.fullmatch(r"estatemap \d+\.\d+\.\d+\n", out)


@pytest.mark.parametrize("argv", [["bogus"], ["scan"], ["scan", "nowhere"], ["export", "--format", "pdf", "--out", "x"],
                                  ["scans", "--no-such-option"]])
def test_bad_usage_exits_2_with_usage(argv):
    code, out, err = run(*argv)
    assert code == 2
    assert "usage: estatemap" in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize("argv", [[], ["gui"]])
def test_gui_without_a_display_says_so_in_one_line(argv):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                          timeout=60, env=env)
    assert proc.returncode == 1
    assert "no display" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_export_offers_every_registered_format_and_each_loads_its_own_exporter():
    from exports.registry import FORMATS
    (export,) = [sub for name, sub in commands(main.build_parser()) if name == "export"]
    (choices,) = [a.choices for a in export._actions if "--format" in a.option_strings]
    assert choices == [f.name for f in FORMATS] and "xlsx" in choices and "aws-migration-hub" in choices
    for fmt in FORMATS:
        assert fmt.load().format == fmt.name and not fmt.extension.startswith(".") and fmt.label
        assert fmt.file_filter == f"{fmt.file_type} (*.{fmt.extension});;All files (*)"
    assert {f.name: f.extension for f in FORMATS}["csv"] == "zip"  # a zip of CSV files


def test_corrupt_db_exits_1_and_is_left_untouched(tmp_path):
    path = tmp_path / "broken.db"
    path.write_bytes(b"\x00garbage" * 1000)
    before = path.read_bytes()
    code, out, err = run("--db", str(path), "scans")
    assert code == 1
    assert "not an Estate Mapper store" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert path.read_bytes() == before


def test_unwritable_db_exits_1(tmp_path):
    (tmp_path / "a-file").write_text("x")
    code, _, err = run("scan", "host", "--db", str(tmp_path / "a-file" / "estate.db"))
    assert code == 1 and "cannot create store" in err and "Traceback" not in err


def test_missing_db_for_reading_commands_exits_1(tmp_path):
    code, _, err = run("scans", "--db", str(tmp_path / "none.db"))
    assert code == 1 and "no store at" in err
    assert not (tmp_path / "none.db").exists()


def test_scans_lists_history(filled_db):
    code, out, _ = run("--db", str(filled_db), "scans")
    assert code == 0
    header, row = out.strip().splitlines()
    assert header.split()[:6] == ["ID", "KIND", "STATUS", "STARTED", "FINISHED", "HOSTS"]
    assert row.split()[:3] == ["1", "host", "completed"] and row.split()[-2:] == ["1", "app01"]


def test_export_json_writes_the_inventory_and_refuses_to_overwrite(filled_db, tmp_path):
    out_path = tmp_path / "estate.json"
    code, out, _ = run("export", "--db", str(filled_db), "--format", "json", "--out", str(out_path))
    assert code == 0 and ": 1 host, " in out
    data = json.loads(out_path.read_text())
    assert data["schema"] == "estatemap/1" and data["hosts"][0]["hostname"] == "app01"
    assert oct(out_path.stat().st_mode & 0o777) == oct(0o600)

    out_path.write_text("previous export")
    code, _, err = run("export", "--db", str(filled_db), "--format", "json", "--out", str(out_path))
    assert code == 1 and "--force" in err
    assert out_path.read_text() == "previous export"
    code, _, _ = run("export", "--db", str(filled_db), "--format", "json", "--out", str(out_path), "--force")
    assert code == 0 and json.loads(out_path.read_text())["hosts"]


def test_export_unknown_scan_exits_1(filled_db, tmp_path):
    code, _, err = run("export", "--db", str(filled_db), "-f", "json", "-o", str(tmp_path / "x.json"), "--scan", "99")
    assert code == 1 and "no scan with id 99" in err
    assert not (tmp_path / "x.json").exists()


def test_export_failure_leaves_no_partial_file(filled_db, tmp_path, monkeypatch):
    from exports.json import JsonExporter
    target = tmp_path / "estate.json"
    target.write_text("good old export")

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("exports.json.json.dump", explode)
    with Store(filled_db) as s, pytest.raises(Exception, match="No space left"):
        from discovery.service import export_inventory
        export_inventory(s, JsonExporter(), target)
    assert target.read_text() == "good old export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".estate.json")] == []


def test_global_options_work_before_and_after_the_command(filled_db):
    assert run("--db", str(filled_db), "-q", "scans")[0] == 0
    assert run("scans", "--db", str(filled_db), "-v")[0] == 0


def test_export_keep_switches_a_noise_filter_off(tmp_path):
    from tests.builders import make_report as report
    path = tmp_path / "estate.db"
    with Store(path) as s:
        scan = s.start_scan(Scan(kind="host", started_at=T0))
        s.write_host_report(scan, report(connections=(("10.9.0.1", 50000, "10.9.0.2", 60000, "outbound", "p2p"),)))
        s.finish_scan(scan, "completed")
    out = tmp_path / "e.json"
    assert run("export", "--db", str(path), "-f", "json", "-o", str(out))[0] == 0
    assert json.loads(out.read_text())["dependencies"] == []
    assert run("export", "--db", str(path), "-f", "json", "-o", str(out), "--force", "--keep", "ephemeral")[0] == 0
    (dep,) = json.loads(out.read_text())["dependencies"]
    assert dep["source_process"] == "p2p" and dep["target_port"] == 60000


def summaries(parser):
    """Yield (name, summary) for every command as its parent's --help lists it."""
    for action in parser._subparsers._group_actions:
        for choice in action._choices_actions:
            yield choice.dest, choice.help
        for sub in action.choices.values():
            if sub._subparsers is not None:
                yield from summaries(sub)


def test_every_command_summary_is_a_whole_phrase_not_cut_mid_sentence():
    found = dict(summaries(main.build_parser()))
    assert {"import", "analyze", "diff", "host", "ssh"} <= set(found)
    for name, summary in found.items():
        assert summary[0].isupper() and summary.count("(") == summary.count(")"), (name, summary)
        assert not re.search(r"(,|\b(and|or|the|a|of|from|to|with))$", summary), (name, summary)


def test_export_says_how_many_connections_the_noise_filters_left_out(tmp_path):
    db = tmp_path / "estate.db"
    with Store(db) as s:
        scan = s.start_scan(Scan(kind="host", started_at=T0, targets=("app01",)))
        s.write_host_report(scan, make_report(hostname="app01", connections=(
            ("10.9.0.1", 40000, "10.9.0.77", 5432, "outbound", "psql"),       # a dependency: kept
            ("10.9.0.1", 50001, "10.9.0.78", 50002, "unknown", None),         # port to port, nobody listens
            ("10.9.0.1", 50003, "10.9.0.78", 50004, "unknown", None))))
        s.finish_scan(scan, "completed")
    out_path = tmp_path / "e.json"
    code, out, err = run("--db", str(db), "export", "-f", "json", "-o", str(out_path))
    assert code == 0, err
    assert "1 connection (2 more left out as noise: 2 ephemeral; --keep NOISE keeps them)." in out
    code, out, err = run("--db", str(db), "export", "-f", "json", "-o", str(out_path), "--force", "--keep", "ephemeral")
    assert code == 0 and out.rstrip().endswith("3 connections."), out


@pytest.mark.parametrize("raised", ["EstateError", "ValueError"])
def test_an_error_whose_message_spans_lines_is_printed_as_one_line(monkeypatch, capsys, raised):
    """A library's message with new lines (openpyxl's are) reaches the user as one line, expected or not."""
    import main
    from discovery.records.model import EstateError

    def fail(args):
        raise (EstateError if raised == "EstateError" else ValueError)("cannot read x.xlsx:\n  line two\n  line three")
    monkeypatch.setattr(main, "cmd_scans", fail)
    assert main.main(["scans"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot read x.xlsx: line two line three" in err
