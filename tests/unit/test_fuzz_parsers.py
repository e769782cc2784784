"""Property-based tests (hypothesis) of every parser of hostile input: mutated recorded files either parse or
are refused with an EstateError, never another exception; what parses also stores.

The fuzz targets live in fuzz/targets.py, shared with fuzz/run.py (the longer, seeded run). CI runs a few
examples per property; ESTATEMAP_FUZZ_EXAMPLES=N runs N (e.g. 5000 for a long local run).
"""

from __future__ import annotations

import gzip
import io
import json
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from discovery.records.model import EstateError, Scan
from discovery.storage.store import Store
from fuzz import targets
from scanners.nmap_xml import NmapXmlError, check_nmap_xml, iter_nmap_xml
from tests.builders import T0, make_report

EXAMPLES = int(os.environ.get("ESTATEMAP_FUZZ_EXAMPLES", "60"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])
FEW = settings(FUZZ, max_examples=max(10, EXAMPLES // 4))

NMAP_SEEDS = targets.nmap_seeds()
SSH_SEEDS = targets.ssh_seeds()
# Text as SSH output arrives: any bytes, decoded as the scanner decodes them (UTF-8, errors replaced).
ssh_bytes_text = st.binary(max_size=400).map(lambda b: b.decode("utf-8", errors="replace"))
digits_and_separators = st.text(alphabet=string.digits + " :.\n\t[]*%/=\"" + "\u00b2\u0663\u00bd\uff11x-",
                                max_size=200)
op = st.tuples(st.sampled_from(("flip", "delete", "insert", "dup", "truncate", "attr", "attr", "attr")),
               st.integers(0, 1 << 30), st.integers(1, 64), st.integers(0, 1 << 16), st.text(max_size=20))


def test_seeds_exist_and_parse():
    """The fuzzers start from real recorded output; it must be there and be valid."""
    assert len(NMAP_SEEDS) >= 2 and len(SSH_SEEDS) >= 20
    assert all(targets.target_nmap_xml(seed) == "parsed" for seed in NMAP_SEEDS)


# --- nmap XML --------------------------------------------------------------------------------------------

@FUZZ
@given(seed=st.sampled_from(NMAP_SEEDS), ops=st.lists(op, min_size=1, max_size=4))
@example(seed=NMAP_SEEDS[0], ops=[("attr", 0, 1, 0, "99999999999999999999")])   # nmaprun start out of range
@example(seed=NMAP_SEEDS[-1], ops=[("insert", 1 << 29, 1, 19, "")])
def test_nmap_xml_mutations_parse_or_raise_estate_error(seed, ops):
    assert targets.target_nmap_xml(targets.mutate(seed, ops)) in ("parsed", "cut short", "refused")


@FEW
@given(seed=st.sampled_from(NMAP_SEEDS), which=st.integers(0, 1000),
       value=st.one_of(st.sampled_from(targets.INTERESTING_VALUES), st.text(max_size=30)))
def test_nmap_xml_any_attribute_value_is_stored_or_refused(tmp_path_factory, seed, which, value):
    """Whatever an attribute holds, the host is stored (or the file refused): never a half-written scan."""
    data = targets.mutate(seed, [("attr", which, 1, 0, value)])
    assert targets.target_nmap_store(data, str(tmp_path_factory.getbasetemp())) in ("stored", "refused")


@pytest.mark.parametrize("element, attribute", [
    ('<port protocol="tcp"><state state="open"/></port>', "no portid"),
    ('<port protocol="tcp" portid="http"><state state="open"/></port>', "portid not a number"),
    ('<port protocol="tcp" portid="70000"><state state="open"/></port>', "portid out of range"),
])
def test_nmap_xml_port_without_a_usable_number_is_left_out(element, attribute):
    data = (f'<nmaprun><host endtime="99999999999999999"><status state="up"/><address addr="10.0.0.1" '
            f'addrtype="ipv4"/><uptime seconds="{"9" * 30}" lastboot="x"/><ports>{element}'
            '<port protocol="tcp" portid="22"><state state="open"/></port></ports></host>'
            '<taskprogress task="x" percent="lots"/></nmaprun>').encode()
    reports = [e for e in iter_nmap_xml(io.BytesIO(data)) if hasattr(e, "host")]
    assert [s.port for s in reports[0].services] == [22], attribute
    assert reports[0].host.uptime_seconds is None  # beyond what SQLite stores: unknown, not a crash


@pytest.mark.parametrize("data, message", [
    (b'<?xml version="1.0" encoding="x-bogus"?><nmaprun/>', "declared encoding cannot be read"),
    (b"<nmaprun><host>" + b"<a>" * 150, "nested more than 100"),
    (b"<nmaprun><host><status state='up'/><hostscript><script id='x'>" + b"<table>" * 2000, "nested more than"),
])
def test_nmap_xml_unusable_encoding_and_deep_nesting_are_refused(data, message):
    with pytest.raises(NmapXmlError, match=message):
        check_nmap_xml(io.BytesIO(data))  # the check before the store is opened
    with pytest.raises(NmapXmlError, match=message):
        for _ in iter_nmap_xml(io.BytesIO(data)):
            pass


# --- collector bundles -------------------------------------------------------------------------------------

BUNDLE = targets.bundle_seed()
BUNDLE_BYTES = targets.bundle_bytes(BUNDLE)


def test_bundle_seed_stores():
    assert targets.target_bundle(BUNDLE_BYTES) == "stored"


@FUZZ
@given(ops=st.lists(st.tuples(st.sampled_from(("flip", "delete", "insert", "dup", "truncate")),
                              st.integers(0, 1 << 30), st.integers(1, 64), st.integers(0, 1 << 16), st.just("")),
                    min_size=1, max_size=3),
       compressed=st.booleans(), on_the_gzip=st.booleans())
@example(ops=[("flip", 3, 1, 0, "")], compressed=True, on_the_gzip=True)   # gzip's FTEXT flag: content unchanged
def test_bundle_byte_mutations_are_refused_unless_the_content_is_unchanged(ops, compressed, on_the_gzip):
    from discovery.files.bundle import canonical_bytes
    text = gzip.decompress(BUNDLE_BYTES)
    if compressed and on_the_gzip:
        mutated = targets.mutate(BUNDLE_BYTES, ops)
    else:
        mutated = targets.mutate(text, ops)
        mutated = gzip.compress(mutated) if compressed else mutated
    outcome = targets.target_bundle(mutated)
    if outcome == "stored":  # only a change the digest does not cover: gzip header flags, JSON whitespace
        content = json.loads(gzip.decompress(mutated) if compressed else mutated)
        assert canonical_bytes(content) == canonical_bytes(json.loads(text))
    else:
        assert outcome == "refused"


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=2**63 - 5, max_value=2**80),
                      st.floats(), st.text(max_size=40), st.sampled_from(targets.INTERESTING_VALUES),
                      st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5),
                                                                           max_size=2))


@FUZZ
@given(ops=st.lists(st.tuples(st.integers(0, 10_000), json_leaf), min_size=1, max_size=3))
@example(ops=[(60, 2**64)])                  # an integer SQLite cannot store
@example(ops=[(60, float("nan"))])
@example(ops=[(5, "\ud800")])                # a lone surrogate: text SQLite cannot store
def test_forged_bundles_with_a_valid_digest_are_stored_or_refused(tmp_path_factory, ops):
    """A forger can recompute the digest: every field then goes through the reader's type checks, and what
    passes them must store without error (or the import would fail halfway, half-written)."""
    doc = targets.mutate_bundle_doc(BUNDLE, ops)
    assert targets.target_bundle(targets.bundle_bytes(doc), str(tmp_path_factory.getbasetemp())) in ("stored",
                                                                                                      "refused")


@FEW
@given(data=st.binary(max_size=300))
def test_bundle_random_bytes_are_refused(data):
    assert targets.target_bundle(data) == "refused"
    assert targets.target_bundle(gzip.compress(data)) == "refused"


def test_bundle_error_names_no_control_characters_and_stay_short():
    from discovery.files.bundle import BundleError, decode_bundle
    doc = json.loads(json.dumps(BUNDLE))
    doc["format"] = "\x1b[2J" + "x" * 10_000
    with pytest.raises(BundleError) as error:
        decode_bundle(json.dumps(doc).encode())
    assert "\x1b" not in str(error.value) and len(str(error.value)) < 300
    doc = json.loads(json.dumps(BUNDLE))
    doc["reports"][0]["host"]["raw_\n\x1b[31mkey"] = 1
    doc["reports"][0]["databases"] = [{"bad\nkey": 1}]
    with pytest.raises(BundleError) as error:
        decode_bundle(targets.bundle_bytes(doc, compress=False))
    assert "\n" not in str(error.value) and "\x1b" not in str(error.value)


# --- workbooks ----------------------------------------------------------------------------------------------

cell = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                 st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
                 st.sampled_from(targets.INTERESTING_VALUES[:28]), st.dates(), st.datetimes())


@pytest.fixture
def annotated_store(tmp_path):
    with Store(tmp_path / "estate.db") as store:
        scan = store.start_scan(Scan(kind="host", started_at=T0, targets=("app01",)))
        store.write_host_report(scan, make_report(hostname="app01", address="10.1.0.1"))
        store.finish_scan(scan, "completed")
        host_id = store.hosts()[0]["id"]
        store.save_analysis(findings=[], groups=[{"id": "grp-1", "name": "g", "wave": 1, "host_ids": [host_id],
                                                  "explanation": "x", "edges": []}],
                            risk={}, as_of="2026-11-01", summary={})
        yield store, host_id


@FEW
@given(header=st.permutations(["Host ID", "Owner", "Criticality", "Patient data", "Notes", "Hostname"]),
       rows=st.lists(st.lists(cell, min_size=6, max_size=6), max_size=4),
       waves=st.lists(st.tuples(cell, cell), max_size=3), host_first=st.booleans())
@example(header=["Host ID", "Owner", "Criticality", "Patient data", "Notes", "Hostname"],
         rows=[[None, "x", None, None, None, None]], waves=[("grp-1", 1e30)], host_first=True)
def test_workbook_with_any_cell_values_lists_problems_or_refuses(annotated_store, tmp_path, header, rows, waves,
                                                                  host_first):
    store, host_id = annotated_store
    if host_first and rows:
        rows[0][header.index("Host ID")] = host_id
    path = tmp_path / "book.xlsx"
    targets.write_workbook(path, [header] + rows,
                           [["Group ID", "Wave"]] + [list(w) for w in waves])
    assert targets.target_workbook(store, path) in ("applied", "refused")


def test_workbook_wave_too_large_is_a_problem_not_a_crash(annotated_store, tmp_path):
    store, host_id = annotated_store
    path = tmp_path / "book.xlsx"
    targets.write_workbook(path, [["Host ID"], [host_id]], [["Group ID", "Wave"], ["grp-1", 1e30]])
    from scanners.workbook_annotations import read_workbook
    plan = read_workbook(store, path)
    assert plan.group_waves == {} and any("larger than" in p for p in plan.problems)
    assert targets.target_workbook(store, path) == "applied"


@FEW
@given(data=st.binary(max_size=300))
def test_workbook_random_bytes_are_refused(annotated_store, tmp_path, data):
    store, _ = annotated_store
    path = tmp_path / "random.xlsx"
    path.write_bytes(data)
    assert targets.target_workbook(store, path) == "refused"


# --- SSH command output and the local parsers ----------------------------------------------------------------------

@FUZZ
@given(text=st.one_of(ssh_bytes_text, digits_and_separators, st.text(max_size=200)))
@example(text="MemTotal: \u00b2 kB\nbtime \u00b2\n")     # str.isdigit() is True for superscripts; int() refuses them
@example(text="tcp LISTEN 0 128 0.0.0.0:\u00b2 0.0.0.0:*\n")
@example(text="1\n\u00b2\n\u00b2\n")
@example(text='NAME="vda" SIZE="' + "9" * 5000 + '" TYPE="disk"\n')   # beyond int()'s 4,300 digits (found by fuzz/run.py)
def test_ssh_transforms_never_raise_on_any_text(text):
    assert targets.target_ssh_text(text) == len(targets.ssh_transforms())


@FUZZ
@given(name=st.sampled_from(sorted(SSH_SEEDS)), ops=st.lists(op, min_size=1, max_size=3))
def test_ssh_transforms_never_raise_on_mutated_recorded_output(name, ops):
    text = targets.mutate(SSH_SEEDS[name].encode(), ops).decode("utf-8", errors="replace")
    assert targets.target_ssh_text(text) == len(targets.ssh_transforms())


@FEW
@given(host=st.sampled_from(("app", "db", "web")), dropped=st.sets(st.sampled_from(targets.ssh_section_names())),
       garbled=st.dictionaries(st.sampled_from(targets.ssh_section_names()), ssh_bytes_text, max_size=4),
       statuses=st.dictionaries(st.sampled_from(targets.ssh_section_names()),
                                st.sampled_from((0, 1, 2, 127, None)), max_size=4))
@example(host="app", dropped={"meminfo", "df", "dpkg", "rpm"}, garbled={}, statuses={})  # output ended early
@example(host="db", dropped=set(), garbled={"meminfo": "MemTotal: " + "9" * 19 + " kB\n"}, statuses={})
@example(host="web", dropped=set(), garbled={"boot": "btime 999999999999999\n"}, statuses={})  # year 31 million
def test_ssh_inventory_from_cut_or_garbled_output_never_raises(host, dropped, garbled, statuses):
    recorded = {key.split("/", 1)[1].removesuffix(".txt"): text for key, text in SSH_SEEDS.items()
                if key.startswith(host + "/")}
    texts = {name: text for name, text in {**recorded, **garbled}.items() if name not in dropped}
    inventory = targets.target_ssh_inventory(texts, statuses)
    assert inventory.report.host.source == "ssh"
    memory = inventory.report.host.memory_bytes
    assert memory is None or 0 <= memory < 2**63  # what the store can hold


# --- safe cells ----------------------------------------------------------------------------------------------

@FUZZ
@given(text=st.text(max_size=60))
@example(text="=1+1")
@example(text=" \u00a0=1")
@example(text="\x00=1")
def test_safe_cells_text_never_becomes_a_formula(text):
    targets.target_safe_cells(text)


@FEW
@given(texts=st.lists(st.one_of(st.text(max_size=30), st.sampled_from(("=1+1", "@SUM(1)", "+1", "-1", "\t=1",
                                                                       "\r=1", " =1"))),
                      min_size=1, max_size=20))
def test_safe_cells_xlsx_round_trip_keeps_every_cell_text(tmp_path, texts):
    targets.xlsx_round_trip(texts, tmp_path / "cells.xlsx")
