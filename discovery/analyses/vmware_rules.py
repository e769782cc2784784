"""What vCenter says of its VMs (a host's `vcenter-vm` script, scanners/vcenter.py): findings — VMware Tools not
running on a powered-on VM or out of date, a guest OS the tools report differently from the one configured, a
hardware version that came with an ESXi release past its end of support (discovery/data/
vmware-hardware-versions.json) — and the exports' VMware table; and the facts discovery/analyses/legacy.py
judges by the end-of-life table (the vCenters' own versions, each VM's configured guest OS).

Pure: `assess_vmware(inventory, esxi_verdict=…)`, `vmware_rows(inventory)`, `vcenter_servers(inventory)` and
`vm_configured_os(host)` read the inventory (and the shipped hardware versions) only.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from discovery.inventory.virtualization import script_data
from discovery.records.model import Finding

SCRIPT = "vcenter-vm"
CATEGORY = "vmware"
HARDWARE_VERSIONS = Path(__file__).resolve().parents[1] / "data" / "vmware-hardware-versions.json"
# toolsVersionStatus2 values that mean the tools need attention: (severity, what it means)
OUTDATED_TOOLS = {
    "guestToolsSupportedOld": ("low", "older than the version this ESXi host ships (still supported)"),
    "guestToolsTooOld": ("medium", "too old: no longer supported with this ESXi host"),
    "guestToolsBlacklisted": ("high", "a version VMware withdrew for a known problem"),
    "guestToolsTooNew": ("low", "newer than this ESXi host supports"),
}


def _vm_facts(host: dict) -> dict | None:
    return script_data(host, SCRIPT)


def vm_configured_os(host: dict) -> tuple[str, bool] | None:
    """Return a VM's guest OS as configured in vCenter, and whether the host's `os_name` is that name only (no
    VMware Tools report, no other source); None for a host vCenter did not describe or a VM without one."""
    facts = _vm_facts(host)
    configured = facts.get("guest_os_configured") if facts else None
    if not configured:
        return None
    return configured, host.get("os_name") == configured and not facts.get("guest_os_reported")


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower().rstrip(".")


def vcenter_servers(inventory: dict) -> list[tuple[dict, str | None]]:
    """Return each vCenter the inventory holds (a `platform_objects` entry of kind vcenter and role vcenter, not an
    ESXi host answering on its own) with the id of the inventory host it runs on: the one host whose addresses or
    names hold the server's host name or address, else None (none, or several)."""
    servers = [o for o in inventory.get("platform_objects") or ()
               if o.get("kind") == "vcenter" and (o.get("details") or {}).get("role") == "vcenter"]
    found = []
    for obj in servers:
        server = obj.get("server") or ""
        name = urlsplit(server if "://" in server else f"https://{server}").hostname
        host_ids = []
        if name:
            wanted = _address(name)
            for host in inventory.get("hosts") or ():
                names = [*(host.get("addresses") or ()), host.get("hostname"), host.get("fqdn")]
                if any(n and _address(n) == wanted for n in names):
                    host_ids.append(host["id"])
        found.append((obj, host_ids[0] if len(host_ids) == 1 else None))
    return found


@functools.lru_cache(maxsize=4)
def load_hardware_versions(path: Path = HARDWARE_VERSIONS) -> dict[int, dict]:
    """Return discovery/data/vmware-hardware-versions.json by hardware version number: {13: {"esxi": "ESXi 6.5",
    "esxi_version": "6.5", ...}}; raises ValueError when it cannot be read or is malformed."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return {int(v["hardware_version"]): v for v in raw["versions"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the VMware hardware versions {path}: {exc!r}") from exc


def hardware_version_number(text: str | None) -> int | None:
    """13 for vCenter's "vmx-13" (or "vmx-013"); None for anything else."""
    match = re.fullmatch(r"vmx-0*(\d+)", (text or "").strip().lower())
    return int(match.group(1)) if match else None


def _finding(host: dict, rule: str, severity: str, title: str, evidence: str, recommendation: str,
             data: dict) -> Finding:
    return Finding(id=f"{rule}:{host['id']}", subject_type="host", subject_id=host["id"], host_id=host["id"],
                   rule=rule, category=CATEGORY, severity=severity, title=title, evidence=evidence,
                   recommendation=recommendation, confidence="high", data=data)


def assess_vmware(inventory: dict, *, esxi_verdict: Callable[[str], object] | None = None) -> list[Finding]:
    """Return the VMware Tools and guest OS findings of every host vCenter described as a VM; and, given
    `esxi_verdict` (an ESXi version → legacy.Verdict, at the assessment date), its hardware version's."""
    findings = []
    for host in inventory.get("hosts") or ():
        facts = _vm_facts(host)
        if facts is None or facts.get("template"):
            continue
        if esxi_verdict is not None and (found := _assess_hardware_version(host, facts, esxi_verdict)):
            findings.append(found)
        powered_on = facts.get("power_state") == "poweredOn"
        running = facts.get("tools_running")
        if powered_on and running and running != "guestToolsRunning":
            findings.append(_finding(
                host, "vmware-tools-not-running", "low", "VMware Tools not running on a powered-on VM",
                f"vCenter: tools {running} (version {facts.get('tools_version') or 'unknown'})",
                "Start or install VMware Tools: without them vCenter cannot report the VM's addresses, host name "
                "or guest OS, and migration tools read less of it.", {"tools_running": running}))
        status = facts.get("tools_version_status")
        if status in OUTDATED_TOOLS:
            severity, meaning = OUTDATED_TOOLS[status]
            findings.append(_finding(
                host, "vmware-tools-outdated", severity, "VMware Tools out of date",
                f"vCenter: tools version {facts.get('tools_version') or 'unknown'} is {meaning} ({status})",
                "Upgrade VMware Tools (or open-vm-tools from the guest's own packages) before migrating.",
                {"tools_version_status": status, "tools_version": facts.get("tools_version")}))
        configured, reported = facts.get("guest_os_configured"), facts.get("guest_os_reported")
        if configured and reported and configured != reported:
            findings.append(_finding(
                host, "vmware-guest-os-mismatch", "info", "Guest OS differs from the VM's configured OS",
                f"configured: {configured}; VMware Tools report: {reported}",
                "Set the VM's guest OS to what runs in it: vCenter, backups and migration tools size and "
                "support the VM by the configured one.", {"configured": configured, "reported": reported}))
    return findings


def _assess_hardware_version(host: dict, facts: dict, esxi_verdict: Callable[[str], object]) -> Finding | None:
    """A VM whose hardware version came with an ESXi release past its end of support (low: the VM still runs on
    newer hosts, but keeps that release's virtual hardware and limits)."""
    shown = facts.get("hardware_version")
    entry = load_hardware_versions().get(hardware_version_number(shown))
    if entry is None or not entry.get("esxi"):
        return None
    verdict = esxi_verdict(entry["esxi_version"])
    if verdict is None or verdict.status != "eol":
        return None
    end = verdict.end.isoformat() if verdict.end else None
    return _finding(
        host, "vmware-hardware-version-old", "low",
        f"VM hardware version {shown} dates from {entry['esxi']}, past end of support",
        f"vCenter: hardware version {shown}, introduced with {entry['esxi']}; {verdict.reason}",
        "Upgrade the VM's compatibility (hardware version) to that of a supported ESXi release its hosts run, "
        "when it is migrated or in a maintenance window: the upgrade needs a power cycle (it is applied while "
        "the VM is off, or at its next guest restart), and the VM no longer starts on older ESXi hosts. "
        "Take a snapshot or backup first.",
        {"hardware_version": shown, "esxi_release": entry["esxi"], "esxi_cycle": verdict.cycle,
         "eol": None if verdict.older_than else end, "status": verdict.status, "eol_source": verdict.source,
         # an ESX release older than every one tracked: the oldest tracked one's end, a bound only
         "older_than": verdict.older_than, "oldest_tracked_eol": end if verdict.older_than else None})


def vmware_rows(inventory: dict) -> list[dict]:
    """Return one row per VM vCenter described, by datacenter, cluster, ESXi host and name: [{"host_id", "name",
    "power_state", "esxi_host", "cluster", "datacenter", "folder", "datastores", "networks", "vcpus",
    "memory_bytes", "guest_os_configured", "guest_os_reported", "hardware_version", "tools_running",
    "tools_version_status", "tools_version", "template", "addresses"}]."""
    rows = []
    for host in inventory.get("hosts") or ():
        facts = _vm_facts(host)
        if facts is None:
            continue
        runs_on = facts.get("runs_on") or {}
        rows.append({
            "host_id": host["id"], "name": host.get("hostname"), "power_state": facts.get("power_state"),
            "esxi_host": runs_on.get("host"), "cluster": runs_on.get("cluster"),
            "datacenter": facts.get("datacenter"), "folder": facts.get("folder"),
            "datastores": list(facts.get("datastores") or ()), "networks": list(facts.get("networks") or ()),
            "vcpus": host.get("cpu_cores"), "memory_bytes": host.get("memory_bytes"),
            "guest_os_configured": facts.get("guest_os_configured"),
            "guest_os_reported": facts.get("guest_os_reported"),
            "hardware_version": facts.get("hardware_version"), "tools_running": facts.get("tools_running"),
            "tools_version_status": facts.get("tools_version_status"), "tools_version": facts.get("tools_version"),
            "template": bool(facts.get("template")), "addresses": list(host.get("addresses") or ()),
        })
    return sorted(rows, key=lambda r: tuple(str(r[k] or "") for k in ("datacenter", "cluster", "esxi_host", "name")))
