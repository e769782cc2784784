from discovery.storage.merge import identity_keys, normalise_address, normalise_mac, normalise_serial
from discovery.records.model import Host
from tests.builders import T0


def test_normalise_mac_rejects_shared_and_malformed():
    assert normalise_mac("52-54-00-AB-CD-EF") == "52:54:00:ab:cd:ef"
    assert normalise_mac("00:00:00:00:00:00") is None
    assert normalise_mac("00:00:5e:00:01:0a") is None  # VRRP: many routers share it
    assert normalise_mac("not-a-mac") is None


def test_normalise_serial_rejects_placeholders():
    assert normalise_serial("To Be Filled By O.E.M.") is None
    assert normalise_serial("00000000-0000-0000-0000-000000000000") is None
    assert normalise_serial("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF") is None
    assert normalise_serial("VMware-56 4d 12") == "vmware-56 4d 12"


def test_normalise_address_keeps_only_unicast_host_addresses():
    assert normalise_address("127.0.0.1") is None
    assert normalise_address("fe80::1%eth0") is None
    assert normalise_address("::ffff:10.1.2.3") == "10.1.2.3"
    assert normalise_address("10.1.2.3/24") == "10.1.2.3"


def test_identity_keys_order_strong_first_and_skip_hostname_and_machine_id():
    host = Host(source="local", observed_at=T0, hostname="pacs01", machine_id="abc", addresses=("10.0.0.5",),
                macs=("52:54:00:12:34:56",), hardware_uuid="4C4C4544-0042", serial="CZ1234")
    assert [k for k, _ in identity_keys(host)] == ["uuid", "serial", "mac", "address"]
