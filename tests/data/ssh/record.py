"""Re-record the outputs in this folder: the remote commands of scanners/linux_commands.py, run over real SSH on
the namespace test network's db, web and app hosts (root; builds the network, about 2 seconds).

    .venv/bin/python tests/data/ssh/record.py

Writes <host>/<command>.txt (stdout of each command in scanners.linux_commands.COMMANDS, as the inventory script
runs it) and <host>/status.json ({command: [exit status, last stderr line]}). dpkg.txt keeps the first 150
packages only. The whole inventory is recorded, plus the fallbacks it skips (netstat, /proc/net, cpuinfo,
/sys/block, /sys/class/net), so the parsers of every alternative are tested on real output.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

HOSTS = ("db", "web", "app")
EXTRA = ("netstat", "proc-net", "cpuinfo", "sys-block", "sys-net", "ss-tcp", "netstat-tcp", "proc-net-tcp")


async def record(key: str, known_hosts: str) -> None:
    import asyncssh

    from scanners.linux_commands import COMMANDS, build_inventory_script, build_script, new_marker, transform_sections
    from scanners.ssh_host import get_batch_result

    for name in HOSTS:
        async with asyncssh.connect(name, username="root", client_keys=[key], known_hosts=known_hosts,
                                    config=None) as conn:
            marker = new_marker()
            outputs = transform_sections((await get_batch_result(conn, build_inventory_script(marker), marker)).stdout,
                                         marker)
            marker = new_marker()
            extra = transform_sections((await get_batch_result(
                conn, build_script(marker, {n: COMMANDS[n] for n in EXTRA}), marker)).stdout, marker)
        folder = HERE / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        status = {}
        for command, result in {**outputs, **extra}.items():
            text = result.stdout
            if command == "dpkg":
                text = "".join(text.splitlines(keepends=True)[:150])
            (folder / f"{command}.txt").write_text(text)
            status[command] = [result.status, (result.stderr.strip().splitlines() or [""])[-1]]
        (folder / "status.json").write_text(json.dumps(status, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {len(status)} commands recorded")


def main() -> None:
    if sys.argv[1:2] == ["--inside"]:
        asyncio.run(record(sys.argv[2], sys.argv[3]))
        return
    from tests.integration.network import running_network

    with running_network(sshd_hosts=HOSTS) as network:
        result = network.scanner.run([sys.executable, __file__, "--inside", network.ssh_client_key,
                                      network.ssh_known_hosts], timeout=120)
        sys.exit(result.returncode)


if __name__ == "__main__":
    main()
