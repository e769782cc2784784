"""SNMP v3 with a privacy passphrase of its own: how it is given (pairs of lines on standard input, asked for
after the authentication one, or the GUI's field), checked, used, and remembered beside the other one."""

from __future__ import annotations

import pytest

from discovery.records.model import EstateError
from discovery.scanning.scan_kinds import SecretNeeded
from discovery.scanning.secrets import Keychain
from scanners.kinds import REGISTRY
from scanners.snmp_agent import PRIV_ACCOUNT, Credential, SnmpScanner

V3 = {"targets": "10.0.0.5", "snmp_version": "3", "user": "auditor"}


def credentials(**options):
    return REGISTRY.make_scanner("snmp", {**V3, **options}).credentials


def test_pairs_of_lines_on_standard_input_are_authentication_then_privacy():
    found = credentials(password="auth-one-1\npriv-one-1\nauth-two-2\npriv-two-2", password_stdin=True,
                        separate_priv=True)
    assert [(c.secret, c.priv_secret, c.label) for c in found] == [
        ("auth-one-1", "priv-one-1", "#1 of 2"), ("auth-two-2", "priv-two-2", "#2 of 2")]
    with pytest.raises(EstateError, match="pairs of lines"):
        credentials(password="auth-one-1", password_stdin=True, separate_priv=True)


def test_asked_on_the_terminal_the_privacy_passphrase_is_asked_for_next():
    with pytest.raises(SecretNeeded) as needed:
        credentials(password="auth-one-1", ask_password=True, separate_priv=True)
    assert needed.value.option == "priv_password" and "privacy" in needed.value.prompt
    (found,) = credentials(password="auth-one-1", ask_password=True, separate_priv=True, priv_password="priv-one-1")
    assert (found.secret, found.priv_secret) == ("auth-one-1", "priv-one-1")


def test_the_guis_field_or_nothing():
    (typed,) = credentials(password="auth-one-1", priv_password="priv-one-1")
    assert typed.priv_secret == "priv-one-1"
    (same,) = credentials(password="auth-one-1", priv_password="")
    assert same.priv_secret is None  # the same as the authentication passphrase
    (community,) = REGISTRY.make_scanner("snmp", {"targets": "10.0.0.5", "password": "c0mm",
                                                  "priv_password": "ignored-9"}).credentials
    assert community.priv_secret is None  # v1/v2c have no privacy passphrase


def test_a_short_privacy_passphrase_is_refused_and_no_secret_is_shown():
    with pytest.raises(EstateError, match="at least 8"):
        Credential(version="3", user="auditor", secret="auth-one-1", priv_secret="short")
    credential = Credential(version="3", user="auditor", secret="auth-one-1", priv_secret="priv-one-1")
    assert "priv-one-1" not in repr(credential) and "auth-one-1" not in credential.name


class Backend:
    """A keyring backend in memory (the real one is tested in tests/integration/test_keyring.py)."""

    def __init__(self):
        self.passwords = {}

    def get_password(self, service, account):
        return self.passwords.get((service, account))

    def set_password(self, service, account, password):
        self.passwords[(service, account)] = password

    def delete_password(self, service, account):
        del self.passwords[(service, account)]


def test_both_passphrases_are_remembered_and_recalled_together():
    backend = Backend()
    given = Credential(version="3", user="auditor", secret="auth-one-1", priv_secret="priv-one-1")
    scanner = SnmpScanner(["10.0.0.5"], [given], keychain=Keychain(backend=backend), remember_password=True)

    class Context:
        def warn(self, message):
            raise AssertionError(message)

    scanner._remember(Context(), "10.0.0.5", 0)
    account = "snmp:v3:auditor@10.0.0.5:161"
    assert scanner.remembered == [account, account + PRIV_ACCOUNT]
    recall = {"version": "3", "user": "auditor", "auth_protocol": "SHA-256", "priv_protocol": "AES"}
    later = SnmpScanner(["10.0.0.5"], [], keychain=Keychain(backend=backend), recall=recall)
    (found,) = later._recalled()["10.0.0.5"]
    assert (found.secret, found.priv_secret) == ("auth-one-1", "priv-one-1")
    assert REGISTRY["snmp"].accounts({**REGISTRY.complete("snmp", V3)}) == [account, account + PRIV_ACCOUNT]
