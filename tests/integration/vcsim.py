"""VMware's own vCenter simulator (govmomi's `simulator` package, Debian's golang-github-vmware-govmomi-dev) for the
scan vcenter tests: tests/integration/data/vcsim/main.go built offline in GOPATH mode once per test session,
started on 127.0.0.1 only, stopped by PID.
"""

from __future__ import annotations

import os
import select
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.conftest import stop

SOURCE = Path(__file__).parent / "data" / "vcsim" / "main.go"
GOCODE = Path("/usr/share/gocode")
SIMULATOR_PACKAGE = GOCODE / "src" / "github.com" / "vmware" / "govmomi" / "simulator"
USER, PASSWORD = "audit@vsphere.local", "vcsim-Read-0nly pw"
START_SECONDS = 30
BUILD_SECONDS = 600


def build_vcsim(workdir: Path) -> Path:
    """Build main.go into `workdir` (GOPATH mode, no network: GOPROXY=off) and return the binary's path; raises
    RuntimeError naming the Debian packages when Go or govmomi is missing."""
    go = shutil.which("go")
    if go is None or not SIMULATOR_PACKAGE.is_dir():
        raise RuntimeError("the vCenter simulator needs Debian's golang-go and golang-github-vmware-govmomi-dev "
                           "(bash scripts/setup.sh --test installs them)")
    package = workdir / "gopath" / "src" / "vcsim"
    package.mkdir(parents=True, exist_ok=True)
    shutil.copy(SOURCE, package / "main.go")
    binary = workdir / "vcsim"
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": f"{workdir / 'gopath'}:{GOCODE}", "GOPROXY": "off",
           "GOFLAGS": "", "CGO_ENABLED": "0"}  # GOCACHE: Go's own (compiled packages, reused by the next session)
    subprocess.run([go, "build", "-o", str(binary), "."], cwd=package, env=env, check=True, timeout=BUILD_SECONDS,
                   capture_output=True)
    return binary


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """Return (certificate, key) PEM files of a self-signed certificate for 127.0.0.1 (RSA 2048, two days)."""
    cert, key = workdir / "vcsim-cert.pem", workdir / "vcsim-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@dataclass
class Simulator:
    proc: subprocess.Popen
    url: str          # https://127.0.0.1:PORT/sdk (http:// without TLS)

    @property
    def address(self) -> str:
        """What `scan vcenter` is given: the URL without /sdk."""
        return self.url.removesuffix("/sdk")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/", 1)[0])

    def stop(self) -> None:
        stop(self.proc)

    def session(self, ca_file: Path | None = None):
        """A pyVmomi session of the test's own (not the scanner's): https verified with `ca_file`, or http."""
        from pyVim.connect import SmartConnect

        if self.url.startswith("http://"):
            return SmartConnect(protocol="http", host="127.0.0.1", port=self.port, user=USER, pwd=PASSWORD)
        return SmartConnect(host="127.0.0.1", port=self.port, user=USER, pwd=PASSWORD,
                            sslContext=ssl.create_default_context(cafile=str(ca_file)))

    def power_off_first_vm(self, ca_file: Path | None = None) -> str:
        """Power off the first VM (by name) through a session of the test's own; return its BIOS UUID."""
        from pyVim.connect import Disconnect
        from pyVim.task import WaitForTask
        from pyVmomi import vim

        si = self.session(ca_file)
        try:
            content = si.RetrieveContent()
            view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
            vm = sorted(view.view, key=lambda v: v.name)[0]
            WaitForTask(vm.PowerOffVM_Task())
            return vm.config.uuid
        finally:
            Disconnect(si)


def start_vcsim(binary: Path, *, tls: tuple[Path, Path] | None = None, **counts: int) -> Simulator:
    """Start the simulator on 127.0.0.1 (a free port) with `counts` as its flags (vm=4, cluster_host=3, esx=True…) and
    return it once it printed its URL; raises RuntimeError if it exits or is silent for START_SECONDS."""
    args = [str(binary), "-listen", "127.0.0.1:0", "-user", USER, "-pass", PASSWORD]
    for name, value in counts.items():
        flag = f"-{name.replace('_', '-')}"
        args += [flag] if value is True else [flag, str(int(value))]  # a bool flag (esx=True) takes no value
    if tls is not None:
        args += ["-tls", "-tls-cert", str(tls[0]), "-tls-key", str(tls[1])]
    log = binary.parent / f"vcsim-{time.monotonic_ns()}.log"
    with open(log, "w") as errors:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors)
    deadline = time.monotonic() + START_SECONDS
    try:
        buffer = b""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"vcsim exited with status {proc.returncode}: {log.read_text()[-2000:]}")
            ready, _, _ = select.select([proc.stdout], [], [], 0.1)
            if ready:
                buffer += os.read(proc.stdout.fileno(), 4096)
            for line in buffer.decode(errors="replace").splitlines():
                if line.startswith("URL "):
                    url = line.split(" ", 1)[1].strip()
                    assert "://127.0.0.1:" in url, url  # loopback only
                    return Simulator(proc, url)
        raise RuntimeError(f"vcsim printed no URL within {START_SECONDS} s")
    except BaseException:
        stop(proc)
        raise
