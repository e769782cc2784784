"""The scanner kinds, one module each, and the registry both faces read (discovery.scanning.scan_kinds's shapes).

Adding a kind: write scanners/kinds/<name>.py declaring `KIND`, and add it to REGISTRY below.
main.py builds `estatemap scan <name>` from it and hands REGISTRY to the GUI, whose scan dialog gets a
tab for it; `make_scanner` (the GUI's one door to the scanners) and `scan resume` go through it too.
"""

from __future__ import annotations

from discovery.scanning.scan_kinds import ScanKinds
from scanners.kinds import database, host, import_file, network, passive, snmp, ssh, vcenter

REGISTRY = ScanKinds((network.KIND, host.KIND, ssh.KIND, snmp.KIND, passive.KIND, database.KIND,
                       vcenter.KIND, import_file.KIND))

make_scanner = REGISTRY.make_scanner
stored_options = REGISTRY.stored_options
resume_request = REGISTRY.resume_request
