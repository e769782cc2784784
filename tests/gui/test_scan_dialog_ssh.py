"""The scan dialog's SSH tab: sudo, an ssh_config file and per-host user@host:port, built from the SSH kind's
declared options and handed to the same scanner the CLI builds.

Network traffic goes to a closed port of 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations


import pytest
from PySide6.QtWidgets import QCheckBox, QLineEdit

from discovery.storage.store import Store
from scanners.kinds import REGISTRY
from scanners.ssh_targets import Hop
from tests.builders import free_port
from tests.gui.conftest import shown_scan_dialog

SUDO_PASSWORD = "gui-Sudo-pw 9"


@pytest.fixture
def dialog(qtbot, tmp_path):
    yield from shown_scan_dialog(qtbot, tmp_path / "estate.db", "ssh")


@pytest.fixture
def ssh_config(tmp_path):
    path = tmp_path / "ssh_config"
    path.write_text("Host backend\n    HostName 10.204.0.10\n    User svc\n    ProxyJump jump@bastion:2222\n")
    return path


def test_ssh_tab_offers_sudo_an_ssh_config_and_a_sudo_password(dialog):
    assert isinstance(dialog.ssh_sudo, QCheckBox) and not dialog.ssh_sudo.isChecked()
    assert dialog.ssh_sudo.text().startswith("Run the commands that need root through sudo")
    assert isinstance(dialog.ssh_ssh_config, QLineEdit) and dialog.ssh_ssh_config_button.text() == "Choose…"
    assert "~/.ssh/config" in dialog.ssh_ssh_config.placeholderText()
    assert dialog.ssh_sudo_password.echoMode() == QLineEdit.EchoMode.Password
    assert "svc@db02:2222" in dialog.ssh_hosts.placeholderText()


def test_ssh_tab_options_build_the_scanner_with_routes_ports_and_sudo(dialog, ssh_config, tmp_path):
    dialog.ssh_hosts.setPlainText("backend\nops@[fe80::7]:2200   # a host on its own port\nsvc@db02:2222")
    dialog.ssh_ssh_config.setText(str(ssh_config))
    dialog.ssh_sudo.setChecked(True)
    dialog.ssh_sudo_password.setText(SUDO_PASSWORD)
    dialog.ssh_known_hosts.setText(str(tmp_path / "known_hosts"))
    dialog.ssh_accept_new.setChecked(True)
    options = dialog.scanner_options()
    assert options["hosts"] == ["backend", "ops@[fe80::7]:2200", "svc@db02:2222"]
    assert (options["ssh_config"], options["sudo"], options["sudo_password"]) == (str(ssh_config), True, SUDO_PASSWORD)
    scanner = REGISTRY.make_scanner("ssh", options)
    assert scanner.routes["backend"].jumps == (Hop("bastion", "bastion", "jump", 2222),)
    assert scanner.routes["backend"].target == Hop("backend", "10.204.0.10", "svc", 22)
    assert scanner.routes["ops@[fe80::7]:2200"].target == Hop("fe80::7", "fe80::7", "ops", 2200)
    assert scanner.sudo and SUDO_PASSWORD not in scanner.arguments
    assert scanner.resume_options["sudo"] is True and scanner.resume_options["ssh_config"] == str(ssh_config)
    assert SUDO_PASSWORD not in repr(scanner.resume_options)


def test_a_bad_host_line_or_a_missing_ssh_config_is_a_message_and_nothing_starts(dialog, tmp_path):
    dialog.ssh_hosts.setPlainText("db01:http")
    assert dialog.start() is False and "port" in dialog.error_label.text()
    dialog.ssh_hosts.setPlainText("db01")
    dialog.ssh_ssh_config.setText(str(tmp_path / "missing_config"))
    assert dialog.start() is False and "no ssh config file" in dialog.error_label.text()


def test_the_sudo_password_leaves_the_form_when_the_scan_starts_and_is_never_stored(qtbot, dialog, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no ssh config or known_hosts of this machine
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    port = free_port()
    dialog.ssh_hosts.setPlainText(f"svc@127.0.0.1:{port}")
    dialog.ssh_sudo.setChecked(True)
    dialog.ssh_sudo_password.setText(SUDO_PASSWORD)
    dialog.ssh_timeout.setValue(10)
    with qtbot.waitSignal(dialog.scan_finished, timeout=60_000) as finished:
        assert dialog.start()
        assert dialog.ssh_sudo_password.text() == ""
    result = finished.args[0]
    assert result.status == "failed"
    assert f"connection refused on port {port}" in dialog.log_view.toPlainText()
    with Store(dialog.store_path, create=False) as store:
        (scan,) = store.list_scans()
        assert store.get_scan(scan["id"])["options"]["sudo"] is True
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("estate.db*"))
    assert SUDO_PASSWORD.encode() not in stored and f"svc@127.0.0.1:{port}".encode() in stored
