"""What vCenter says of its VMs (a host's `vcenter-vm` script, scanners/vcenter.py): findings — VMware Tools not
running on a powered-on VM or out of date, a guest OS the tools report differently from the one configured — and
the exports' VMware table; and the facts discovery/analyses/legacy.py judges by the end-of-life table (the
vCenters' own versions, each VM's configured guest OS).

Pure: `assess_vmware(inventory)`, `vmware_rows(inventory)`, `vcenter_servers(inventory)` and
`vm_configured_os(host)` read the inventory only.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from discovery.records.model import Finding

SCRIPT = "vcenter-vm"
CATEGORY = "vmware"
# toolsVersionStatus2 values that mean the tools need attention: (severity, what it means)
OUTDATED_TOOLS = {
    "guestToolsSupportedOld": ("low", "older than the version this ESXi host ships (still supported)"),
    "guestToolsTooOld": ("medium", "too old: no longer supported with this ESXi host"),
    "guestToolsBlacklisted": ("high", "a version VMware withdrew for a known problem"),
    "guestToolsTooNew": ("low", "newer than this ESXi host supports"),
}


def _vm_facts(host: dict) -> dict | None:
    script = next((s for s in host.get("scripts") or () if s.get("id") == SCRIPT), None)
    return script.get("data") if script and isinstance(script.get("data"), dict) else None


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


def _finding(host: dict, rule: str, severity: str, title: str, evidence: str, recommendation: str,
             data: dict) -> Finding:
    return Finding(id=f"{rule}:{host['id']}", subject_type="host", subject_id=host["id"], host_id=host["id"],
                   rule=rule, category=CATEGORY, severity=severity, title=title, evidence=evidence,
                   recommendation=recommendation, confidence="high", data=data)


def assess_vmware(inventory: dict) -> list[Finding]:
    """Return the VMware Tools and guest OS findings of every host vCenter described as a VM."""
    findings = []
    for host in inventory.get("hosts") or ():
        facts = _vm_facts(host)
        if facts is None or facts.get("template"):
            continue
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
