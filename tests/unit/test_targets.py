import pytest

from discovery.records.targets import TargetError, parse_target, parse_targets, total_addresses


@pytest.mark.parametrize("text, kind, count, nmap_args", [
    ("10.0.0.5", "address", 1, ("10.0.0.5",)),
    ("2001:db8::1", "address", 1, ("2001:db8::1",)),
    ("10.0.0.0/24", "network", 256, ("10.0.0.0/24",)),
    ("10.0.0.7/24", "network", 256, ("10.0.0.0/24",)),
    ("2001:db8::/120", "network", 256, ("2001:db8::/120",)),
    ("10.0.0.1-40", "range", 40, ("10.0.0.1-40",)),
    ("10.0.0.250-10.0.1.3", "range", 10, ("10.0.0.250/31", "10.0.0.252/30", "10.0.1.0/30")),
    ("2001:db8::1-2001:db8::2", "range", 2, ("2001:db8::1", "2001:db8::2")),
    ("PACS01.example.org", "hostname", 1, ("pacs01.example.org",)),
    ("localhost", "hostname", 1, ("localhost",)),
])
def test_parse_target_accepts(text, kind, count, nmap_args):
    target = parse_target(text)
    assert (target.kind, target.count, target.nmap_args) == (kind, count, nmap_args)


@pytest.mark.parametrize("text", [
    "-iL /etc/passwd", "-iL", "--script=evil", "1.2.3.4;reboot", "1.2.3.4 && rm -rf /", "$(reboot)", "`id`",
    "host name", "10.0.0.1|nc", "'10.0.0.1'", "10.0.0.256", "10.0.0.0/33", "10.0.0.9-3", "10.0.0.1-10.0.0.0",
    "a" * 300, "host\nname", "*.example.org", "10.0.0.1-fe80::1", "-", "", "ex_ample.org", "bad-.example.org",
])
def test_parse_target_refuses(text):
    with pytest.raises(TargetError):
        parse_target(text)


def test_parse_targets_dedupes_and_counts():
    targets = parse_targets(["10.0.0.0/30", "10.0.0.0/30", "db01"])
    assert [t.text for t in targets] == ["10.0.0.0/30", "db01"]
    assert total_addresses(targets) == 5


def test_parse_targets_needs_one():
    with pytest.raises(TargetError, match="no targets"):
        parse_targets([])
