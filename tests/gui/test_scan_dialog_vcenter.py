"""The scan dialog's VMware tab: built from the vcenter kind's declared options (no GUI code of its own), handing
the form to the same scanner the CLI builds.

Network traffic goes to a closed port of 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations


import pytest
from PySide6.QtWidgets import QCheckBox, QLineEdit, QSpinBox

from discovery.storage.store import Store
from scanners.kinds import REGISTRY
from tests.builders import free_port
from tests.gui.conftest import shown_scan_dialog

PASSWORD = "gui-vCenter-pw 7"


@pytest.fixture
def dialog(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr("discovery.scanning.secrets.Keychain.recall", lambda self, account: None)
    yield from shown_scan_dialog(qtbot, tmp_path / "estate.db", "vcenter")


def test_the_vmware_tab_comes_from_the_kinds_declared_options(dialog):
    assert dialog.kind_tabs.tabText(dialog.kind_tabs.currentIndex()) == "VMware"
    assert isinstance(dialog.vcenter_server, QLineEdit) and dialog.vcenter_server.placeholderText()
    assert isinstance(dialog.vcenter_port, QSpinBox) and dialog.vcenter_port.value() == 443
    assert isinstance(dialog.vcenter_insecure, QCheckBox) and not dialog.vcenter_insecure.isChecked()
    assert dialog.vcenter_ca_file_button.text() == "Choose…"
    assert dialog.vcenter_password.echoMode() == QLineEdit.EchoMode.Password
    assert not hasattr(dialog, "vcenter_password_stdin")  # a command-line switch only


def test_the_form_builds_the_scanner_the_cli_builds(dialog):
    dialog.vcenter_server.setText("https://vc01.example.org:9443")
    dialog.vcenter_user.setText("audit@vsphere.local")
    dialog.vcenter_password.setText(PASSWORD)
    dialog.vcenter_insecure.setChecked(True)
    scanner = REGISTRY.make_scanner("vcenter", dialog.scanner_options())
    assert scanner.targets() == ("https://vc01.example.org:9443",) and scanner.insecure
    assert scanner.user == "audit@vsphere.local" and PASSWORD not in scanner.arguments


def test_no_user_or_no_password_is_a_message_and_nothing_starts(dialog):
    dialog.vcenter_server.setText("vc01")
    assert dialog.start() is False and "--user" in dialog.error_label.text()
    dialog.vcenter_user.setText("audit")
    assert dialog.start() is False and "password" in dialog.error_label.text()


def test_a_refused_connection_fails_the_scan_and_the_password_is_never_stored(qtbot, dialog):
    port = free_port()
    dialog.vcenter_server.setText(f"https://127.0.0.1:{port}")
    dialog.vcenter_user.setText("audit")
    dialog.vcenter_password.setText(PASSWORD)
    with qtbot.waitSignal(dialog.scan_finished, timeout=60_000) as finished:
        assert dialog.start()
    assert finished.args[0].status == "failed"
    assert "connection refused" in dialog.error_label.text()
    with Store(dialog.store_path, create=False) as store:
        assert [s["kind"] for s in store.list_scans()] == ["vcenter"]
    stored = b"".join(p.read_bytes() for p in dialog.store_path.parent.glob("estate.db*"))
    assert PASSWORD.encode() not in stored
