#!/usr/bin/env bash
# Sets up Estate Mapper on Debian/Ubuntu: system packages, a virtual environment in .venv, the package.
#   bash scripts/setup.sh          what the program needs
#   bash scripts/setup.sh --test   also what the test suite needs (daemons it starts, pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[ "${1:-}" = "--test" ] && with_tests=1

# System packages: nmap for network scans, iproute2 (ss) for socket facts, tcpdump for passive captures, the
# libraries Qt needs to open the desktop application; the tests also start real daemons, a D-Bus session with a
# keyring, and Wireshark's dumpcap (the other capture tool `scan passive` can run); dnsmasq-base (the binary
# alone, no system service) is the DHCP and DNS server whose answers passive discovery hears host names from;
# chromium renders the assessment report (estatemap report) headless to PNG and PDF in its tests.
packages=(nmap iproute2 procps tcpdump
          libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libxkbcommon-x11-0
          libx11-xcb1 libxcb-cursor0 libxcb-glx0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
          libxcb-render-util0 libxcb-shape0 libxcb-sync1 libxcb-xfixes0 libxcb-xkb1)
if [ "$with_tests" -eq 1 ]; then
    # mariadb-server: the MariaDB server (mariadbd, mariadb-install-db, the mariadb client) that scan database
    # mysql:// is tested against in a namespace (tests/integration/test_mysql_clients.py starts its own).
    # sudo: scan ssh --sudo is tested against the real one, with a sudoers file of the test host's own
    # (tests/integration/test_ssh_sudo_jump.py; nothing is added to this machine's /etc/sudoers).
    # golang-go and golang-github-vmware-govmomi-dev: VMware's own vCenter/ESXi simulator (govmomi's simulator
    # package; Debian ships no vcsim command), built offline from tests/integration/data/vcsim/main.go for the
    # scan vcenter tests (tests/integration/vcsim.py), listening on 127.0.0.1 only.
    packages+=(redis-server postgresql mariadb-server sudo nginx openssh-server openssh-client dcmtk openssl snmpd
               dbus-daemon gnome-keyring libsecret-tools wireshark-common dnsmasq-base xvfb xauth x11-utils
               chromium golang-go golang-github-vmware-govmomi-dev)
fi
if ! command -v python3 >/dev/null || ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    packages+=(python3 python3-venv)
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "Installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    policy=/usr/sbin/policy-rc.d
    if [ "$with_tests" -eq 1 ] && [ ! -e "$policy" ]; then
        # The tests start their own PostgreSQL, MariaDB, nginx and sshd in network namespaces: keep the
        # packages from starting system-wide copies while they install.
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod +x "$policy"
        trap '$sudo rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python packages come from the lock, exact versions checked against their hashes (refresh it with
# bash scripts/lock.sh); then Estate Mapper itself, built by the locked setuptools.
lock=requirements.lock
[ "$with_tests" -eq 1 ] && lock=requirements-test.lock
[ -x .venv/bin/python ] || python3 -m venv .venv
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
quiet() { grep -v '^WARNING: Location' || true; }  # find-links a machine's pip.conf names but lacks
"${pip[@]}" --require-hashes -r "$lock" 2>&1 | quiet
# setuptools warns at every editable install that a folder named like a package could shadow it: not news.
PYTHONWARNINGS=ignore:::setuptools.command.editable_wheel "${pip[@]}" --no-deps --no-build-isolation -e . 2>&1 | quiet
echo "Estate Mapper is installed in .venv ($(.venv/bin/estatemap --version))"
