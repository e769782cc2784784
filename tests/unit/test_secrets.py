"""discovery.scanning.secrets against keyring's documented extension point: small KeyringBackend subclasses."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from discovery.scanning.secrets import (SERVICE, Keychain, SecretsError, database_account, forget_password,
                                        get_backend, recall_password, remember_password, ssh_account)


class MemoryKeyring(KeyringBackend):
    """A real-enough OS keyring stand-in: priority 9, secrets in a dict."""
    priority = 9

    def __init__(self):
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        from keyring.errors import PasswordDeleteError
        if self.items.pop((service, username), None) is None:
            raise PasswordDeleteError("not found")


class LockedKeyring(MemoryKeyring):
    def set_password(self, service, username, password):
        from keyring.errors import KeyringLocked
        raise KeyringLocked("the collection is locked")


class PlaintextKeyring(MemoryKeyring):
    """Stands for keyrings.alt.file.PlaintextKeyring: keyring ranks it below 1."""
    priority = 0.5


@pytest.fixture
def use_keyring():
    before = keyring.get_keyring()
    yield keyring.set_keyring
    keyring.set_keyring(before)


def test_account_names():
    assert ssh_account("root", "db01") == "ssh:root@db01"
    assert ssh_account("root", "db01", 2222) == "ssh:root@db01:2222"
    assert ssh_account("root", "fe80::1") == "ssh:root@[fe80::1]"
    assert database_account("postgresql", "monitor", "db01", 5432) == "postgresql:monitor@db01:5432"


def test_remember_recall_forget_round_trip(use_keyring):
    backend = MemoryKeyring()
    use_keyring(backend)
    remember_password("ssh:root@db01", "hunter2")
    assert backend.items == {(SERVICE, "ssh:root@db01"): "hunter2"}
    assert recall_password("ssh:root@db01") == "hunter2"
    assert recall_password("ssh:root@db02") is None
    assert forget_password("ssh:root@db01") is True
    assert forget_password("ssh:root@db01") is False
    assert backend.items == {}


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), PlaintextKeyring()])
def test_no_usable_keyring_is_a_clear_error_and_nothing_is_stored(use_keyring, backend, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    use_keyring(backend)
    with pytest.raises(SecretsError, match="no usable OS keyring for remembered passwords") as error:
        remember_password("ssh:root@db01", "hunter2")
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in str(error.value) and "hunter2" not in str(error.value)
    assert getattr(backend, "items", {}) == {}


def test_chainer_uses_its_best_acceptable_backend_never_a_plaintext_one(use_keyring, monkeypatch):
    from keyring.backends.chainer import ChainerBackend

    good, plain = MemoryKeyring(), PlaintextKeyring()
    plain.priority = 20  # even ranked first, a file backend is refused by name
    monkeypatch.setattr(type(plain), "__module__", "keyrings.alt.file")
    monkeypatch.setattr(ChainerBackend, "backends", property(lambda self: [plain, good]))
    use_keyring(ChainerBackend())
    assert get_backend() is good
    remember_password("ssh:root@db01", "hunter2")
    assert plain.items == {} and good.items == {(SERVICE, "ssh:root@db01"): "hunter2"}


def test_keyring_failure_names_the_account_never_the_password(use_keyring):
    use_keyring(LockedKeyring())
    with pytest.raises(SecretsError) as error:
        remember_password("postgresql:monitor@db01:5432", "hunter2")
    assert "postgresql:monitor@db01:5432" in str(error.value) and "locked" in str(error.value)
    assert "hunter2" not in str(error.value)


def test_optional_keychain_recalls_nothing_without_a_keyring(use_keyring):
    use_keyring(fail.Keyring())
    assert Keychain(required=False).recall("ssh:root@db01") is None
    with pytest.raises(SecretsError):
        Keychain(required=True).check()
