"""The OUI table: a MAC's maker from IEEE's registry (MA-L, MA-M and MA-S), medical device makers named and
flagged, from real assignments looked up in the shipped table; and scripts/update_oui.py building the table
from IEEE's CSV listings."""

from __future__ import annotations

import json

import pytest

from discovery.records.mac_vendors import lookup_mac, medical_maker


@pytest.mark.parametrize("mac_address, organisation, maker", [
    ("44:4b:5d:01:02:03", "GE Healthcare", "GE HealthCare"),
    ("00:09:fb:01:02:03", "Philips Patient Monitoring", "Philips"),
    ("88:4b:39:01:02:03", "Siemens AG, Healthcare Sector", "Siemens Healthineers"),
    ("58:42:e4:01:02:03", "Baxter International Inc", "Baxter"),
    ("9c:c8:ae:01:02:03", "Becton, Dickinson and Company", "BD"),
    ("00:1d:4a:01:02:03", "Carestream Health, Inc.", "Carestream"),
    ("84:11:c2:31:02:03", "FUJIFILM Healthcare Corporation", "Fujifilm Healthcare"),   # an MA-M block
    ("70:b3:d5:36:a1:02", "Becton Dickinson", "BD"),                                    # an MA-S block
])
def test_lookup_mac_names_medical_device_makers(mac_address, organisation, maker):
    found = lookup_mac(mac_address)
    assert (found.organisation, found.maker, found.medical) == (organisation, maker, True)


def test_lookup_mac_other_makers_unknown_and_local_macs():
    xerox = lookup_mac("00-00-00-12-34-56")
    assert (xerox.organisation, xerox.registry, xerox.medical, xerox.maker) == ("XEROX CORPORATION", "MA-L", False,
                                                                               None)
    assert medical_maker("Siemens AG") is None and medical_maker("Philips Lighting BV") is None  # not their clinics
    assert lookup_mac("02:cc:00:00:00:28") is None       # locally administered: a VM's, a randomised phone's
    assert lookup_mac("01:00:5e:00:00:fb") is None       # a group (multicast) MAC
    assert lookup_mac("not a mac") is None and lookup_mac(None) is None


def test_update_oui_builds_the_table_and_keeps_the_medical_list(tmp_path, capsys):
    from scripts.update_oui import main

    listing = tmp_path / "oui.csv"
    listing.write_text("Registry,Assignment,Organization Name,Organization Address\n"
                       'MA-L,444B5D,GE Healthcare,"9900 Innovation Dr Wauwatosa WI US 53226 "\n'
                       "MA-L,AABBCC,Private,\n"
                       "MA-L,70B3D5,IEEE Registration Authority,445 Hoes Lane Piscataway NJ US 08554\n",
                       encoding="utf-8")
    output = tmp_path / "oui.json"
    output.write_text(json.dumps({"medical": [{"pattern": "^GE Healthcare", "maker": "GE HealthCare"},
                                              {"pattern": "^Gone Medical", "maker": "Gone"}]}))
    assert main(["--date", "2026-05-21", "--output", str(output), str(listing)]) == 0
    table = json.loads(output.read_text())
    assert table["MA-L"] == {"444B5D": "GE Healthcare"} and table["source"]["date"] == "2026-05-21"
    assert [m["maker"] for m in table["medical"]] == ["GE HealthCare", "Gone"]
    assert "'^Gone Medical' matches no organisation" in capsys.readouterr().err
    assert main(["--date", "2026-05-21", "--output", str(output), str(output)]) == 1   # not a listing


def test_the_shipped_table_names_its_source_and_reads_fast():
    from discovery.records.mac_vendors import OUI_TABLE

    table = json.loads(OUI_TABLE.read_text(encoding="utf-8"))
    assert table["schema"] == "estatemap-oui/1" and table["source"]["date"]
    assert len(table["MA-L"]) > 30_000 and table["MA-M"] and table["MA-S"]
