"""Passwords remembered in the OS keyring when the user asks (`--remember-password`), never anywhere else.

SSH and database passwords are otherwise kept in memory only. A remembered one goes to the operating system's
own keyring through the `keyring` library: the Secret Service on Linux (GNOME Keyring, KWallet, KeePassXC over
the D-Bus session bus), the Keychain on macOS, the Credential Locker on Windows. It is filed under the service
"estatemap" and an account name that says what it opens: `ssh:root@db01` (`ssh:root@db01:2222` off port 22),
`postgresql:monitor@db01:5432`. Backends that would keep it in a plain file, or not at all, are refused
(keyring's `fail` and `null` backends, keyrings.alt's file backends, anything keyring ranks below 1): without
a real keyring, `remember_password` raises SecretsError saying so, and nothing is written anywhere.
keyring is imported only when a keyring is used.
"""

from __future__ import annotations

import logging
import os

from discovery.records.model import EstateError

log = logging.getLogger(__name__)

SERVICE = "estatemap"
SSH_DEFAULT_PORT = 22
# Backends never used, whatever their priority: they keep nothing, or keep it in a file anyone with the
# user's files can read (keyrings.alt's PlaintextKeyring; its "encrypted" file backends are refused too).
REFUSED_BACKENDS = ("keyring.backends.fail.", "keyring.backends.null.", "keyrings.alt.")
MIN_PRIORITY = 1  # keyring's own threshold for a backend it recommends


class SecretsError(EstateError):
    """The OS keyring cannot be used (none installed or reachable, locked, or it refused the request)."""


def ssh_account(user: str, host: str, port: int = SSH_DEFAULT_PORT) -> str:
    """Return the keyring account name of an SSH login: `ssh:user@host`, with `:port` off port 22."""
    return f"ssh:{user}@{_host(host)}" + (f":{port}" if int(port) != SSH_DEFAULT_PORT else "")


def sudo_account(user: str, host: str, port: int = SSH_DEFAULT_PORT) -> str:
    """Return the keyring account name of a user's sudo password on a host: `sudo:user@host`, `:port` off 22."""
    return "sudo" + ssh_account(user, host, port).removeprefix("ssh")


def database_account(engine: str, user: str, host: str, port: int) -> str:
    """Return the keyring account name of a database login: `postgresql:user@host:port`."""
    return f"{engine}:{user}@{_host(host)}:{int(port)}"


def snmp_account(version: str, user: str | None, host: str, port: int) -> str:
    """Return the keyring account name of an SNMP agent's credential: `snmp:v2c@host:161`, `snmp:v3:user@host:161`."""
    who = f"v3:{user}" if version == "3" else f"v{version}"
    return f"snmp:{who}@{_host(host)}:{int(port)}"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _name(backend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _acceptable(backend) -> bool:
    try:
        priority = backend.priority
    except Exception:  # keyring ranks a backend that cannot work by raising
        return False
    return not _name(backend).startswith(REFUSED_BACKENDS) and priority >= MIN_PRIORITY


def get_backend():
    """Return the OS keyring backend to use; raises SecretsError when there is no usable one (never a file)."""
    try:
        import keyring
        from keyring.backends.chainer import ChainerBackend
    except ImportError:  # pragma: no cover - a declared dependency
        raise SecretsError("the keyring library is not installed (pip install keyring)") from None
    chosen = keyring.get_keyring()
    candidates = list(chosen.backends) if isinstance(chosen, ChainerBackend) else [chosen]
    usable = [backend for backend in candidates if _acceptable(backend)]
    if not usable:
        found = ", ".join(_name(b) for b in candidates) or "none"
        raise SecretsError(f"no usable OS keyring for remembered passwords (found: {found}). " + _hint()
                           + " Without one, passwords are asked each time and kept in memory only (leave out "
                             "--remember-password).")
    backend = max(usable, key=lambda b: b.priority)
    log.debug("keyring backend: %s", _name(backend))
    return backend


def _hint() -> str:
    if os.name == "nt" or os.uname().sysname == "Darwin":
        return "The system keyring did not answer."
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return ("On Linux it takes a Secret Service (GNOME Keyring, KWallet, KeePassXC) on the D-Bus session bus, "
                "and this session has no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set).")
    return ("On Linux it takes a Secret Service (GNOME Keyring, KWallet, KeePassXC) on the D-Bus session bus; "
            "none answered on this session's bus (is gnome-keyring-daemon running and unlocked?).")


def _failed(what: str, account: str, backend, error: Exception) -> SecretsError:
    # keyring's errors name the backend's problem, never the password; the password is not part of the message.
    reason = str(error).strip() or type(error).__name__
    return SecretsError(f"cannot {what} the password for {account} in the OS keyring ({_name(backend)}): {reason}")


def remember_password(account: str, password: str, *, backend=None) -> None:
    """Store `password` for `account` in the OS keyring (replacing any before); raises SecretsError."""
    if not password:
        raise SecretsError(f"no password to remember for {account}")
    backend = backend if backend is not None else get_backend()
    try:
        backend.set_password(SERVICE, account, password)
    except Exception as error:
        raise _failed("remember", account, backend, error) from None


def recall_password(account: str, *, backend=None) -> str | None:
    """Return the password remembered for `account`, or None; raises SecretsError if the keyring fails."""
    backend = backend if backend is not None else get_backend()
    try:
        return backend.get_password(SERVICE, account) or None
    except Exception as error:
        raise _failed("read", account, backend, error) from None


def forget_password(account: str, *, backend=None) -> bool:
    """Remove the password remembered for `account`; return False if there was none. Raises SecretsError."""
    from keyring.errors import PasswordDeleteError

    backend = backend if backend is not None else get_backend()
    try:
        if backend.get_password(SERVICE, account) is None:
            return False
        backend.delete_password(SERVICE, account)
        return True
    except PasswordDeleteError:
        return False
    except Exception as error:
        raise _failed("forget", account, backend, error) from None


class Keychain:
    """The OS keyring as a scan uses it: found on first use, then `recall`, `remember` and `forget` by account.

    With `required=False` (reusing what was remembered, without --remember-password) a missing keyring
    is not an error: `recall` returns None. Thread-safe as far as the backend is (each call is one request).
    """

    def __init__(self, *, required: bool = True, backend=None):
        self.required = required
        self._backend = backend
        self._checked = backend is not None

    @property
    def backend(self):
        """The keyring backend, or None when there is none and none is required; raises SecretsError."""
        if not self._checked:
            try:
                self._backend = get_backend()
            except SecretsError:
                if self.required:
                    raise
                log.info("no usable OS keyring: remembered passwords are not looked up")
            self._checked = True
        elif self._backend is None and self.required:
            get_backend()  # raises the explanation again
        return self._backend

    def check(self) -> None:
        """Raise SecretsError now (before anything connects) if a keyring is required and there is none."""
        self.backend  # noqa: B018

    def recall(self, account: str) -> str | None:
        backend = self.backend
        if backend is None:
            return None
        try:
            return recall_password(account, backend=backend)
        except SecretsError as error:
            if self.required:
                raise
            log.info("%s", error)
            return None

    def remember(self, account: str, password: str) -> None:
        remember_password(account, password, backend=self._require())

    def forget(self, account: str) -> bool:
        return forget_password(account, backend=self._require())

    def _require(self):
        backend = self.backend
        return backend if backend is not None else get_backend()
