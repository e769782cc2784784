"""ScanDialog: scans started through the same run_scan the CLI uses, on a worker thread, into a real store.

Network traffic goes to 127.0.0.1 only; every wait is bounded.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from discovery.records.model import EstateError
from discovery.storage.store import Store
from gui.scan_dialog import ScanDialog
from scanners.kinds import REGISTRY, make_scanner
from tests.gui.conftest import choose_host_watch, shown_scan_dialog

NMAP_XML = Path(__file__).resolve().parents[1] / "data" / "nmap" / "localhost-sV-O.xml"


@pytest.fixture
def store_path(tmp_path):
    return tmp_path / "estate.db"


@pytest.fixture
def dialog(qtbot, store_path):
    yield from shown_scan_dialog(qtbot, store_path)


@pytest.fixture
def listener():
    """A TCP listener on 127.0.0.1 (an ephemeral port), closed after the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    yield sock.getsockname()[1]
    sock.close()


def scans_in(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with Store(path, create=False) as store:
        return store.list_scans()


def test_scan_dialog_imports_nmap_xml_into_store(qtbot, dialog, store_path):
    dialog.choose_kind("import")
    dialog.import_path.setText(str(NMAP_XML))
    with qtbot.waitSignal(dialog.scan_finished, timeout=30_000) as finished:
        assert dialog.start()
    result = finished.args[0]
    assert result.status == "completed" and len(result.host_ids) == 1
    assert dialog.result is result
    [scan] = scans_in(store_path)
    assert (scan["kind"], scan["status"], scan["host_count"]) == ("import", "completed", 1)
    with Store(store_path, create=False) as store:
        [host] = store.hosts()
    assert "127.0.0.1" in str(host["addresses"])
    assert "completed: 1 host stored" in dialog.summary_label.text()
    assert "Starting import file scan" in dialog.log_view.toPlainText()
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()


def test_scan_dialog_network_scan_of_localhost_listener(qtbot, dialog, store_path, listener):
    """A real nmap run against one port of 127.0.0.1 that this test opened."""
    dialog.choose_kind("network")
    dialog.network_targets.setPlainText("127.0.0.1")
    dialog.network_profile.setCurrentIndex(0)  # quick
    dialog.network_ports.setText(str(listener))
    assert dialog.network_max_rate.value() == 300
    with qtbot.waitSignal(dialog.scan_finished, timeout=120_000) as finished:
        assert dialog.start()
    result = finished.args[0]
    assert result.status == "completed", result.error
    assert len(result.host_ids) == 1 and result.counts.get("services", 0) >= 1
    assert "1 up" in dialog.log_view.toPlainText()  # nmap's progress reached the live log
    [scan] = scans_in(store_path)
    assert scan["kind"] == "network" and scan["status"] == "completed" and scan["targets"] == ["127.0.0.1"]
    assert f"-p {listener}" in dialog.log_view.toPlainText()


def test_scan_dialog_cancel_watch_keeps_host_and_ends_interrupted(qtbot, dialog, store_path):
    choose_host_watch(dialog, "seconds")
    assert dialog.scanner_options() == {"watch": 3600.0, "every": 1.0}
    assert dialog.start()
    assert dialog.is_running() and not dialog.start_button.isEnabled()
    # The host is kept only once its inventory is done and the watch has begun: wait for the first sample.
    qtbot.waitSignal(dialog.worker.progress_changed, timeout=120_000,
                     check_params_cb=lambda done, total, message: message.startswith("sample")).wait()
    # The watch would last an hour: the scan finishing at all, interrupted, is what proves the cancel stopped it.
    # (The wait is bounded far below that hour but far above any loaded machine's stop time.)
    with qtbot.waitSignal(dialog.scan_finished, timeout=120_000) as finished:
        dialog.cancel_button.click()
    result = finished.args[0]
    assert result.status == "interrupted"
    assert not dialog.is_running()  # the scan's function has returned: nothing of it is left running
    assert len(result.host_ids) == 1
    [scan] = scans_in(store_path)
    assert (scan["kind"], scan["status"], scan["host_count"]) == ("host", "interrupted", 1)
    with Store(store_path, create=False) as store:
        assert [h["id"] for h in store.hosts()] == result.host_ids
    assert "interrupted" in dialog.summary_label.text()


def test_scan_dialog_close_while_running_asks_then_cancels(qtbot, dialog, store_path, monkeypatch):
    asked = []
    monkeypatch.setattr(dialog, "confirm_stop", lambda: asked.append(True) or True)
    dialog.choose_kind("host")
    dialog.host_watch.setChecked(True)
    dialog.host_every.setValue(1)
    dialog.host_every_unit.setCurrentText("seconds")
    assert dialog.start()
    qtbot.waitSignal(dialog.worker.progress_changed, timeout=120_000,
                     check_params_cb=lambda done, total, message: message.startswith("sample")).wait()
    with qtbot.waitSignal(dialog.scan_finished, timeout=30_000) as finished:
        dialog.close()
        assert dialog.isVisible()  # still open until the scan has stopped
    assert asked == [True]
    assert finished.args[0].status == "interrupted"
    qtbot.waitUntil(lambda: not dialog.isVisible(), timeout=30_000)


def test_scan_dialog_bad_target_shows_error_and_starts_nothing(qtbot, dialog, store_path):
    dialog.choose_kind("network")
    dialog.network_targets.setPlainText("10.0.0.1;reboot")
    assert dialog.start() is False
    assert dialog.worker is None
    assert dialog.error_label.isVisible()
    assert "10.0.0.1;reboot" in dialog.error_label.text()
    assert "Traceback" not in dialog.error_label.text()
    assert scans_in(store_path) == []


def test_scan_dialog_large_range_asks_and_no_starts_nothing(qtbot, dialog, store_path, monkeypatch):
    asked = []
    monkeypatch.setattr(dialog, "confirm_large_scan", lambda count: asked.append(count) or False)
    dialog.choose_kind("network")
    dialog.network_targets.setPlainText("10.0.0.0/16")  # never scanned: the answer is No
    assert dialog.start() is False
    assert asked == [65536]
    assert dialog.worker is None and not dialog.error_label.isVisible()
    assert "not confirmed" in dialog.status_label.text()
    assert scans_in(store_path) == []


def test_scan_dialog_small_range_is_not_questioned(qtbot, dialog, monkeypatch):
    asked = []
    monkeypatch.setattr(dialog, "confirm_large_scan", lambda count: asked.append(count) or False)
    built = []
    dialog.scanner_factory = lambda kind, options: built.append((kind, options)) or make_scanner(kind, options)
    dialog.choose_kind("network")
    dialog.network_targets.setPlainText("127.0.0.1")
    dialog.network_ports.setText("bad ports")  # stops it at the factory: nothing runs
    assert dialog.start() is False
    assert asked == [] and built[0][0] == "network" and built[0][1]["max_rate"] == 300
    assert "not a port list" in dialog.error_label.text()


def test_scan_dialog_unexpected_factory_error_is_one_line(qtbot, dialog, store_path):
    def broken(kind, options):
        raise RuntimeError("boom")
    dialog.scanner_factory = broken
    dialog.choose_kind("host")
    assert dialog.start() is False
    assert dialog.error_label.text() == "Unexpected error: RuntimeError: boom"
    assert scans_in(store_path) == []


def test_scan_dialog_store_that_cannot_open_is_a_message(qtbot, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    dialog = ScanDialog(blocker / "estate.db", REGISTRY)
    qtbot.addWidget(dialog)
    dialog.choose_kind("import")
    dialog.import_path.setText(str(NMAP_XML))
    with qtbot.waitSignal(dialog.scan_failed, timeout=30_000) as failed:
        assert dialog.start()
    assert failed.args[0] and "Traceback" not in failed.args[0]
    assert dialog.error_label.text() == failed.args[0]
    assert dialog.result is None and dialog.start_button.isEnabled()


# --- gui.workers: the TaskWorker every dialog runs its task on ---------------------------------------

def test_task_worker_reports_progress_and_result(qtbot):
    from gui.workers import running_tasks, start_task

    def task(progress, cancel_event):
        progress(1, None, "counting")
        progress(2, 3, "two of three")
        progress.log("a line for the log")
        progress(5 * 2**31, 10 * 2**31, "a big file")  # beyond Qt's int: scaled
        return "done"

    seen, logged = [], []
    worker = start_task(None, task)  # the thread starts at the event loop's next turn: connecting now misses nothing
    worker.progress_changed.connect(lambda *args: seen.append(args))
    worker.log_message.connect(logged.append)
    with qtbot.waitSignal(worker.finished, timeout=60_000) as finished:
        pass
    assert finished.args == ["done"]
    qtbot.waitUntil(lambda: worker not in running_tasks(), timeout=30_000)  # thread ended, waited for, released
    assert seen == [(1, -1, "counting"), (2, 3, "two of three"), (500, 1000, "a big file")]
    assert logged == ["a line for the log"]


@pytest.mark.parametrize("error, message", [
    (EstateError("no store at /x; run a scan first"), "no store at /x; run a scan first"),
    (ZeroDivisionError("division by zero"), "Unexpected error: ZeroDivisionError: division by zero"),
])
def test_task_worker_failure_is_one_line_and_traceback_only_logged(qtbot, caplog, error, message):
    from gui.workers import start_task

    def task(progress, cancel_event):
        raise error

    finished = []
    worker = start_task(None, task)
    worker.finished.connect(finished.append)
    with qtbot.waitSignal(worker.failed, timeout=60_000) as failed:
        pass
    assert failed.args == [message] and finished == []
    assert "Traceback" not in failed.args[0]
    logged_tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(logged_tracebacks) == (0 if isinstance(error, EstateError) else 1)


def test_task_worker_cancel_sets_the_event_the_task_sees(qtbot):
    from gui.workers import start_task

    def task(progress, cancel_event):
        progress(0, -1, "waiting")
        return "cancelled" if cancel_event.wait(300) else "timed out"

    worker = start_task(None, task)
    with qtbot.waitSignal(worker.progress_changed, timeout=60_000):
        pass
    assert worker.is_running()
    # "cancelled" (not "timed out") is the task seeing the event; it would otherwise wait 300 s, far beyond this wait.
    with qtbot.waitSignal(worker.finished, timeout=60_000) as finished:
        worker.cancel()
    assert finished.args == ["cancelled"]
    assert worker.cancelled and not worker.is_running()


# --- SSH: a password nobody gave is asked in the GUI, from the scan's thread ------------------------------


@pytest.fixture
def password_sshd():
    """A real SSH server (asyncssh) on 127.0.0.1 that accepts user estate with password s3cret and then refuses
    every session; yields (port, the passwords it was offered). Stopped after the test."""
    import asyncio
    import threading

    import asyncssh

    offered: list[str] = []

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username):
            return True

        def password_auth_supported(self):
            return True

        def validate_password(self, username, password):
            offered.append(password)
            return username == "estate" and password == "s3cret"

    loop = asyncio.new_event_loop()
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = loop.run_until_complete(asyncssh.create_server(Server, "127.0.0.1", 0, server_host_keys=[key]))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.sockets[0].getsockname()[1], offered
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    assert not thread.is_alive()


def test_scan_dialog_asks_for_an_ssh_password_on_the_gui_thread(qtbot, dialog, store_path, password_sshd,
                                                                 tmp_path, monkeypatch):
    import threading
    port, offered = password_sshd
    monkeypatch.setenv("HOME", str(tmp_path))  # known_hosts of the test's own
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    asked: list[tuple[str, bool]] = []

    def answer(message):
        asked.append((message, threading.current_thread() is threading.main_thread()))
        return "s3cret"

    monkeypatch.setattr(dialog, "ask_password", answer)
    dialog.choose_kind("ssh")
    dialog.ssh_hosts.setPlainText("estate@127.0.0.1")
    dialog.ssh_port.setValue(port)
    dialog.ssh_timeout.setValue(30)
    dialog.ssh_accept_new.setChecked(True)
    with qtbot.waitSignal(dialog.scan_finished, timeout=60_000) as finished:
        assert dialog.start()
    result = finished.args[0]
    assert len(asked) == 1 and "estate" in asked[0][0] and asked[0][1]  # once, on the GUI thread
    assert "s3cret" in offered  # the typed password reached the server
    (warning,) = [w for w in result.warnings if "127.0.0.1" in w]  # then the server refused the session
    assert dialog.log_view.toPlainText().count(f"warning: {warning}") == 1  # in the live log, once
    stored = b"".join(p.read_bytes() for p in store_path.parent.glob(store_path.name + "*"))
    assert b"s3cret" not in stored


def test_scan_dialog_ssh_options_carry_excludes_hosts_file_and_remember(dialog, tmp_path):
    hosts_file = tmp_path / "hosts.txt"
    hosts_file.write_text("db01\n")
    dialog.choose_kind("ssh")
    dialog.ssh_hosts.setPlainText("app01")
    dialog.ssh_hosts_file.setText(str(hosts_file))
    dialog.ssh_excludes.setText("10.20.0.1 10.20.0.0/30")
    dialog.ssh_remember.setChecked(True)
    options = dialog.scanner_options()
    assert options["hosts_file"] == str(hosts_file) and options["excludes"] == ["10.20.0.1", "10.20.0.0/30"]
    assert options["remember_password"] is True and options["password_prompt"] == dialog.password_bridge.ask


def test_scan_dialog_remember_without_a_keyring_is_a_message(qtbot, dialog, store_path, monkeypatch):
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    import keyring.core
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)  # choose again, from the variable
    dialog.choose_kind("ssh")
    dialog.ssh_hosts.setPlainText("app01")
    dialog.ssh_remember.setChecked(True)
    assert dialog.start() is False
    assert "keyring" in dialog.error_label.text() and "Traceback" not in dialog.error_label.text()
    assert scans_in(store_path) == []


# --- resuming: GUI scans keep their options, and an interrupted scan continues from the dialog ------------


def scan_row(path: Path, scan_id: int) -> dict:
    with Store(path, create=False) as store:
        return store.get_scan(scan_id)


def test_resumed_network_scan_skips_what_it_finished_into_the_same_scan(qtbot, store_path, listener):
    dialog = ScanDialog(store_path, REGISTRY)
    qtbot.addWidget(dialog)
    dialog.choose_kind("network")
    dialog.network_targets.setPlainText("127.0.0.1")
    dialog.network_profile.setCurrentIndex(0)  # quick
    dialog.network_ports.setText(str(listener))
    with qtbot.waitSignal(dialog.scan_finished, timeout=120_000) as first:
        assert dialog.start()
    scan_id = first.args[0].scan_id
    stored = scan_row(store_path, scan_id)["options"]
    assert stored == {"profile": "quick", "ports": str(listener), "exclude": [], "max_rate": 300}
    assert dialog.resume(scan_id) is False and "nothing to resume" in dialog.error_label.text()
    with Store(store_path) as store:  # as if the scan had been cut short after its one host
        store.finish_scan(scan_id, "interrupted")
    with qtbot.waitSignal(dialog.scan_finished, timeout=120_000) as resumed:
        assert dialog.resume(scan_id)
    assert resumed.args[0].scan_id == scan_id and resumed.args[0].status == "completed"
    assert len(scans_in(store_path)) == 1
    assert "--exclude 127.0.0.1" in dialog.log_view.toPlainText()  # the finished address is not scanned again


def test_resuming_a_host_scan_runs_it_again_with_its_options(qtbot, store_path):
    dialog = ScanDialog(store_path, REGISTRY)
    qtbot.addWidget(dialog)
    dialog.choose_kind("host")
    dialog.host_watch.setChecked(True)
    dialog.host_every.setValue(1)
    dialog.host_every_unit.setCurrentText("seconds")
    for attempt in (lambda: dialog.start(), lambda: dialog.resume(1)):
        assert attempt()
        qtbot.waitSignal(dialog.worker.progress_changed, timeout=120_000,
                         check_params_cb=lambda done, total, message: message.startswith("sample")).wait()
        with qtbot.waitSignal(dialog.scan_finished, timeout=30_000):
            dialog.cancel()
    first, second = scans_in(store_path)
    assert (first["status"], second["status"]) == ("interrupted", "interrupted")
    assert second["kind"] == "host" and scan_row(store_path, 2)["options"] == scan_row(store_path, 1)["options"]
    assert scan_row(store_path, 1)["options"]["every"] == 1.0


def test_resuming_an_ssh_scan_with_every_host_collected_completes_it_as_the_cli_does(qtbot, store_path):
    """Nothing is left to collect: the scan is completed, no scan runs (it raised an error in the GUI)."""
    from discovery.records.model import Scan, utc_now
    from scanners.kinds import stored_options
    from tests.builders import make_report
    with Store(store_path) as store:
        scan = store.start_scan(Scan(kind="ssh", started_at=utc_now(), targets=("db01",)),
                                options=stored_options("ssh", {"hosts": ["db01"]}))
        store.write_host_report(scan, make_report(hostname="db01", source="ssh"))
        store.finish_scan(scan, "interrupted")
    dialog = ScanDialog(store_path, REGISTRY)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.scan_finished, timeout=10_000) as finished:
        assert dialog.resume(scan) is True
    assert finished.args[0].status == "completed" and dialog.error_label.text() == ""
    assert "nothing was left to collect" in dialog.log_view.toPlainText() and not dialog.is_running()
    assert [(s["id"], s["status"]) for s in scans_in(store_path)] == [(scan, "completed")]


def test_resuming_a_scan_of_a_kind_that_cannot_resume_says_so(qtbot, dialog, store_path):
    from discovery.records.model import Scan, utc_now
    url = "postgresql://estate@127.0.0.1:1/postgres"
    with Store(store_path) as store:
        scan = store.start_scan(Scan(kind="database", started_at=utc_now(), targets=(url,)), options={"urls": [url]})
        store.finish_scan(scan, "interrupted")
    assert dialog.resume(scan) is False
    assert "cannot be resumed" in dialog.error_label.text() and dialog.worker is None
    assert [(s["id"], s["status"]) for s in scans_in(store_path)] == [(scan, "interrupted")]


# --- the forms come from the registry: a new kind is a tab of its own --------------------------------------


def test_scan_dialog_has_one_tab_per_kind_in_registry_order(dialog):
    labels = [dialog.kind_tabs.tabText(i) for i in range(dialog.kind_tabs.count())]
    assert labels == ["Network", "This host", "SSH hosts", "SNMP", "Passive", "Database", "VMware", "Import file"]
    for name in ("network", "host", "ssh", "database", "import"):
        dialog.choose_kind(name)
        assert dialog.current_kind() == name


def test_scan_dialog_forms_keep_their_widgets_and_defaults(dialog):
    from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox
    widgets = {"network_targets": QPlainTextEdit, "network_profile": QComboBox, "network_ports": QLineEdit,
               "network_excludes": QLineEdit, "network_max_rate": QSpinBox, "host_watch": QCheckBox,
               "host_watch_duration": QSpinBox, "host_watch_unit": QComboBox, "host_every": QSpinBox,
               "host_every_unit": QComboBox, "ssh_hosts": QPlainTextEdit, "ssh_user": QLineEdit, "ssh_key": QLineEdit,
               "ssh_hosts_file": QLineEdit, "ssh_excludes": QLineEdit, "ssh_port": QSpinBox,
               "ssh_concurrency": QSpinBox, "ssh_timeout": QDoubleSpinBox, "ssh_accept_new": QCheckBox,
               "ssh_password": QLineEdit, "ssh_passphrase": QLineEdit, "ssh_remember": QCheckBox,
               "import_path": QLineEdit}
    for name, kind in widgets.items():
        assert isinstance(getattr(dialog, name), kind), name
    assert dialog.network_profile.currentData() == "standard" and dialog.network_max_rate.value() == 300
    assert (dialog.ssh_port.value(), dialog.ssh_concurrency.value(), dialog.ssh_timeout.value()) == (22, 10, 60)
    assert not dialog.host_watch.isChecked() and not dialog.host_watch_duration.isEnabled()
    assert (dialog.host_watch_duration.value(), dialog.host_watch_unit.currentText()) == (1, "hours")
    assert (dialog.host_every.value(), dialog.host_every_unit.currentText()) == (5, "minutes")
    assert dialog.ssh_password.echoMode() == QLineEdit.Password == dialog.ssh_passphrase.echoMode()
    assert not dialog.ssh_accept_new.isChecked() and not dialog.ssh_remember.isChecked()
    assert dialog.scanner_options("host") == {"watch": None, "every": None}
    assert dialog.scanner_options("network") == {"targets": [], "profile": "standard", "ports": None, "excludes": [],
                                                 "max_rate": 300}
    assert dialog.import_path_button.text() == "Choose…" and dialog.ssh_key_button.text() == "Choose…"


def test_a_choose_button_asks_for_a_file_with_its_options_filter(dialog, monkeypatch):
    from PySide6.QtWidgets import QFileDialog
    asked = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda parent, title, folder, file_filter: asked.append(file_filter) or (str(NMAP_XML), ""))
    dialog.choose_kind("import")
    dialog.import_path_button.click()
    assert asked == [REGISTRY["import"].option("path").file_filter] and "*.xml" in asked[0]
    assert dialog.scanner_options() == {"path": str(NMAP_XML)}


def test_the_key_file_dialog_opens_in_the_ssh_folder(dialog, monkeypatch, tmp_path):
    from PySide6.QtWidgets import QFileDialog
    (tmp_path / ".ssh").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    folders = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda parent, title, folder, file_filter: folders.append(folder) or ("", ""))
    dialog.choose_kind("ssh")
    dialog.ssh_key_button.click()
    dialog.ssh_hosts_file_button.click()
    assert folders == [str(tmp_path / ".ssh"), str(tmp_path)]


@pytest.fixture
def toy_kinds():
    """The registry with the test kind added (a registry of the test's own: REGISTRY is left as it is)."""
    from discovery.scanning.scan_kinds import ScanKinds
    from tests import toy_kind
    return ScanKinds((*REGISTRY.kinds, toy_kind.KIND))


def test_a_new_kind_gets_a_tab_whose_scan_runs_into_the_store(qtbot, store_path, toy_kinds):
    from PySide6.QtWidgets import QCheckBox, QPlainTextEdit, QSpinBox
    dialog = ScanDialog(store_path, toy_kinds)
    qtbot.addWidget(dialog)
    assert dialog.kind_tabs.tabText(dialog.kind_tabs.count() - 1) == "Toy"
    dialog.choose_kind("toy")
    assert isinstance(dialog.toy_targets, QPlainTextEdit) and dialog.toy_targets.toPlainText() == ""
    assert isinstance(dialog.toy_depth, QSpinBox) and dialog.toy_depth.value() == 3
    assert (dialog.toy_depth.minimum(), dialog.toy_depth.maximum()) == (1, 9)
    assert isinstance(dialog.toy_loud, QCheckBox) and not dialog.toy_loud.isChecked()
    assert dialog.toy_loud.text() == "Say each host aloud in the log"
    built = []
    dialog.scanner_factory = lambda kind, options: built.append(toy_kinds.make_scanner(kind, options)) or built[-1]
    dialog.toy_targets.setPlainText("web01")
    dialog.toy_depth.setValue(7)
    dialog.toy_loud.setChecked(True)
    with qtbot.waitSignal(dialog.scan_finished, timeout=30_000) as finished:
        assert dialog.start()
    result = finished.args[0]
    assert result.status == "completed" and len(result.host_ids) == 1
    assert built[0].options == {"targets": ["web01"], "depth": 7, "loud": True}
    [scan] = scans_in(store_path)
    assert (scan["kind"], scan["status"], scan["host_count"], scan["targets"]) == ("toy", "completed", 1, ["web01"])
    with Store(store_path, create=False) as store:
        assert [h["hostname"] for h in store.hosts()] == ["web01"]
    assert "Starting toy scan: web01" in dialog.log_view.toPlainText()


def test_the_database_tab_asks_for_servers_role_and_password(dialog):
    from PySide6.QtWidgets import QCheckBox, QLineEdit, QPlainTextEdit
    dialog.choose_kind("database")
    assert isinstance(dialog.database_urls, QPlainTextEdit) and isinstance(dialog.database_user, QLineEdit)
    assert isinstance(dialog.database_password, QLineEdit) and dialog.database_password.echoMode() == QLineEdit.Password
    assert isinstance(dialog.database_remember, QCheckBox) and not dialog.database_remember.isChecked()
    dialog.database_urls.setPlainText("postgresql://monitor@db01/postgres\npostgresql://db02")
    dialog.database_password.setText(" pass word ")
    assert dialog.scanner_options() == {"urls": ["postgresql://monitor@db01/postgres", "postgresql://db02"],
                                        "user": None, "password": " pass word ", "remember_password": False}


def test_a_database_scan_without_a_server_shows_an_error_and_starts_nothing(dialog, store_path):
    dialog.choose_kind("database")
    assert dialog.start() is False
    assert dialog.worker is None and "name at least one server" in dialog.error_label.text()
    assert scans_in(store_path) == []


def test_a_database_server_that_refuses_is_a_warning_and_counted_as_not_collected(qtbot, dialog, store_path,
                                                                                  monkeypatch):
    """Port 1 of loopback: nothing listens there, so the connection is refused at once."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")  # never the user's keyring
    import keyring.core
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    url = "postgresql://estate@127.0.0.1:1/postgres"
    dialog.choose_kind("database")
    dialog.database_urls.setPlainText(url)
    dialog.database_password.setText("not-a-real-one")
    with qtbot.waitSignal(dialog.scan_finished, timeout=60_000) as finished:
        assert dialog.start()
    assert dialog.database_password.text() == ""  # not left on the screen while the scan runs
    result = finished.args[0]
    assert result.status == "completed"  # a server that cannot be asked is a warning; the scan itself ran
    [scan] = scans_in(store_path)
    assert (scan["kind"], scan["status"]) == ("database", "completed")
    assert result.host_ids == [] and len(result.warnings) == 1 and "cannot connect" in result.warnings[0]
    assert f"warning: {result.warnings[0]}" in dialog.log_view.toPlainText()
    assert f"Could not collect 1 server: {url}" in dialog.summary_label.text()
    assert "Starting database scan" in dialog.log_view.toPlainText()


def test_the_snmp_tab_asks_for_targets_version_and_a_hidden_community(dialog):
    from PySide6.QtWidgets import QComboBox, QLineEdit, QPlainTextEdit
    dialog.choose_kind("snmp")
    assert isinstance(dialog.snmp_targets, QPlainTextEdit) and isinstance(dialog.snmp_snmp_version, QComboBox)
    assert isinstance(dialog.snmp_password, QLineEdit) and dialog.snmp_password.echoMode() == QLineEdit.Password
    dialog.snmp_targets.setPlainText("10.20.0.0/30\nprinter01")
    dialog.snmp_password.setText("c0mmunity")
    options = dialog.scanner_options()
    assert options["targets"] == ["10.20.0.0/30", "printer01"] and options["password"] == "c0mmunity"
    assert options["snmp_version"] == "2c" and options["max_rate"] == 50.0


def test_an_snmp_agent_that_does_not_answer_fails_the_scan_with_one_warning(qtbot, dialog, store_path):
    """UDP port 1 of loopback: no agent there, so nothing answers."""
    dialog.choose_kind("snmp")
    dialog.snmp_targets.setPlainText("127.0.0.1")
    dialog.snmp_port.setValue(1)
    dialog.snmp_timeout.setValue(1)
    dialog.snmp_retries.setValue(0)
    dialog.snmp_password.setText("not-the-community")
    with qtbot.waitSignal(dialog.scan_finished, timeout=60_000) as finished:
        assert dialog.start()
    assert dialog.snmp_password.text() == ""  # not left on the screen while the scan runs
    result = finished.args[0]
    [scan] = scans_in(store_path)
    assert (scan["kind"], scan["status"]) == ("snmp", "failed") and result.host_ids == []
    assert len(result.warnings) == 1 and "no SNMP answer from 127.0.0.1:1" in result.warnings[0]
    assert "not-the-community" not in dialog.log_view.toPlainText()


def test_the_passive_tab_asks_for_an_interface_and_how_long(dialog):
    from PySide6.QtWidgets import QComboBox, QLineEdit
    dialog.choose_kind("passive")
    assert isinstance(dialog.passive_interface, QLineEdit) and isinstance(dialog.passive_duration, QLineEdit)
    assert isinstance(dialog.passive_tool, QComboBox) and dialog.passive_tool.currentData() == "auto"
    assert dialog.scanner_options() == {"interface": None, "duration": None, "tool": "auto"}
    dialog.passive_interface.setText(" eth1 ")
    dialog.passive_duration.setText("1h")
    assert dialog.scanner_options() == {"interface": "eth1", "duration": "1h", "tool": "auto"}


def test_a_passive_capture_without_an_interface_is_an_error_and_starts_nothing(dialog, store_path):
    dialog.choose_kind("passive")
    assert dialog.start() is False
    assert dialog.worker is None and "name the interface to listen on" in dialog.error_label.text()
    dialog.passive_interface.setText("no-such-if0")
    assert dialog.start() is False
    assert dialog.worker is None and "there is no interface no-such-if0 here (interfaces: " in dialog.error_label.text()
    assert scans_in(store_path) == []


def test_a_passive_capture_shows_its_packets_and_cancel_keeps_it(qtbot, dialog, store_path):
    """tcpdump on loopback (root runs the tests): datagrams to 127.0.0.1 are counted in the progress; loopback
    is no host of the estate, so none is stored. Cancel stops a capture meant to last an hour."""
    import re
    dialog.choose_kind("passive")
    dialog.passive_interface.setText("lo")
    dialog.passive_duration.setText("1h")
    messages = []
    assert dialog.start()
    dialog.worker.progress_changed.connect(lambda done, total, message: messages.append(message))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(600):  # bounded: a minute at most
            sock.sendto(b"estatemap test", ("127.0.0.1", 9))
            qtbot.wait(100)
            if any(re.match(r"[1-9][0-9,]* packets, ", m) for m in messages):
                break
    assert any(re.match(r"[1-9][0-9,]* packets, [0-9,]+ flows, [0-9,]+ hosts, ", m) for m in messages), messages
    with qtbot.waitSignal(dialog.scan_finished, timeout=120_000) as finished:
        dialog.cancel_button.click()
    result = finished.args[0]
    assert result.status == "interrupted" and result.host_ids == []
    [scan] = scans_in(store_path)
    assert (scan["kind"], scan["status"]) == ("passive", "interrupted")


def test_the_database_tab_takes_mysql_and_mariadb_urls(dialog):
    dialog.choose_kind("database")
    assert "mysql://" in dialog.database_urls.placeholderText()
    dialog.database_urls.setPlainText("mysql://monitor@db02.example.org/\nmariadb://db03:3307/emr")
    options = dialog.scanner_options()
    assert options["urls"] == ["mysql://monitor@db02.example.org/", "mariadb://db03:3307/emr"]
    scanner = make_scanner("database", options)
    assert scanner.targets() == ("mysql://monitor@db02.example.org:3306/", "mariadb://db03:3307/emr")
    dialog.database_urls.setPlainText("mysql://monitor:secret@db02.example.org/")
    assert dialog.start() is False
    assert dialog.worker is None and "do not put the password in the URL" in dialog.error_label.text()
    dialog.database_urls.setPlainText("oracle://db04/")
    assert dialog.start() is False and "is not a database URL" in dialog.error_label.text()


def test_a_mysql_server_that_refuses_is_a_one_line_warning(qtbot, dialog, store_path, monkeypatch):
    """Port 1 of loopback: nothing listens there, so the connection is refused at once."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")  # never the user's keyring
    import keyring.core
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    url = "mysql://monitor@127.0.0.1:1/"
    dialog.choose_kind("database")
    dialog.database_urls.setPlainText(url)
    dialog.database_password.setText("not-a-real-one")
    with qtbot.waitSignal(dialog.scan_finished, timeout=60_000) as finished:
        assert dialog.start()
    result = finished.args[0]
    assert result.status == "completed" and result.host_ids == []
    assert result.warnings == [f"{url}: cannot connect: Connection refused"]
    assert f"warning: {result.warnings[0]}" in dialog.log_view.toPlainText()
    assert f"Could not collect 1 server: {url}" in dialog.summary_label.text()
