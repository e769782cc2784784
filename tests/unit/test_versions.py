import pytest

from discovery.records.versions import compare_parts, parse_cycle, parse_version, parse_version_spec, split_banner


@pytest.mark.parametrize("banner, product, version", [
    ("OpenSSH 5.3", "OpenSSH", "5.3"),
    ("OpenSSH 9.2p1 Debian 2+deb12u3", "OpenSSH", "9.2p1 Debian 2+deb12u3"),
    ("Apache httpd 2.2.15", "Apache httpd", "2.2.15"),
    ("Microsoft IIS httpd 6.0", "Microsoft IIS httpd", "6.0"),
    ("MySQL 5.1.73", "MySQL", "5.1.73"),
    ("PostgreSQL DB 9.6.0 - 9.6.7", "PostgreSQL DB", "9.6.0 - 9.6.7"),
    ("nginx 1.22.1", "nginx", "1.22.1"),
    ("Redis key-value store 7.0.15", "Redis key-value store", "7.0.15"),
    ("5.5.5-10.3.39-MariaDB", None, "5.5.5-10.3.39-MariaDB"),
    ("nginx", "nginx", None),
])
def test_split_banner_real_banners(banner, product, version):
    assert split_banner(banner) == (product, version)


@pytest.mark.parametrize("text, parts, suffix, revision", [
    ("5.3", (5, 3), None, None),
    ("9.2p1 Debian 2+deb12u3", (9, 2), "p1", "2+deb12u3"),
    ("8.9p1 Ubuntu 3ubuntu0.10", (8, 9), "p1", "3ubuntu0.10"),
    ("2.2.15", (2, 2, 15), None, None),
    ("6.0", (6, 0), None, None),
    ("5.1.73", (5, 1, 73), None, None),
    ("1.22.1", (1, 22, 1), None, None),
    ("13.00.5026.00; SP2", (13, 0, 5026, 0), None, None),
    ("1.0.2k-fips", (1, 0, 2), "k", "fips"),
])
def test_parse_version_banner_versions(text, parts, suffix, revision):
    version = parse_version(text)
    assert version.text == text  # kept as shown
    assert (version.parts, version.suffix, version.revision) == (parts, suffix, revision)


@pytest.mark.parametrize("text, scheme, epoch, upstream, parts, revision", [
    ("1:9.2p1-2+deb12u3", "dpkg", 1, "9.2p1", (9, 2), "2+deb12u3"),
    ("15.18-0+deb12u1", "dpkg", None, "15.18", (15, 18), "0+deb12u1"),
    ("5:7.0.15-1~deb12u10", "dpkg", 5, "7.0.15", (7, 0, 15), "1~deb12u10"),
    ("17.0.16+8-1~deb12u1", "dpkg", None, "17.0.16+8", (17, 0, 16), "1~deb12u1"),
    ("8u382-ga-1~deb10u1", "dpkg", None, "8u382-ga", (8,), "1~deb10u1"),
    ("2.4.6-99.el7", "rpm", None, "2.4.6", (2, 4, 6), "99.el7"),
    ("13.14-1.el9_3", "rpm", None, "13.14", (13, 14), "1.el9_3"),
    ("2.4.6-99.el7", "auto", None, "2.4.6", (2, 4, 6), "99.el7"),
])
def test_parse_version_package_versions(text, scheme, epoch, upstream, parts, revision):
    version = parse_version(text, scheme=scheme)
    assert (version.epoch, version.upstream, version.parts, version.revision) == (epoch, upstream, parts, revision)
    assert str(version) == text


def test_parse_version_without_numbers_is_none():
    assert parse_version(None) is None
    assert parse_version("   ") is None
    assert parse_version("unknown") is None


def test_parse_version_spec_range_is_not_a_version():
    spec = parse_version_spec("9.6.0 - 9.6.7")
    assert spec.kind == "range" and spec.version is None and not spec.is_exact
    assert (spec.low, spec.high) == ((9, 6, 0), (9, 6, 7))
    assert spec.covers((9, 6)) and spec.covers((9,))
    assert not spec.covers((9, 5)) and not spec.covers((10,))


def test_parse_version_spec_lower_bound_is_not_a_version():
    spec = parse_version_spec("9.6.0 or later")
    assert spec.kind == "at-least" and spec.version is None
    assert spec.low == (9, 6, 0) and spec.high is None
    assert spec.covers((9, 6)) and spec.covers((15,)) and not spec.covers((9, 5))


def test_parse_version_spec_upper_bound():
    spec = parse_version_spec("2.2 or earlier")
    assert spec.kind == "at-most" and spec.high == (2, 2)
    assert spec.covers((2, 0)) and spec.covers((1, 3)) and not spec.covers((2, 4))


def test_parse_version_spec_wildcard_reaches_every_minor():
    spec = parse_version_spec("2.6.X")
    assert spec.kind == "wildcard" and (spec.low, spec.high) == ((2, 6), (2, 6))
    assert spec.covers((2, 6)) and spec.covers((2, 6, 32))
    assert not spec.covers((2, 7)) and not spec.covers((3,))
    assert parse_version_spec("3.x").covers((3, 19))


def test_parse_version_spec_range_of_wildcards():
    spec = parse_version_spec("2.6.X - 3.X")
    assert spec.kind == "range"
    assert spec.covers((2, 6, 32)) and spec.covers((3, 10)) and not spec.covers((4,)) and not spec.covers((2, 4))


def test_parse_version_spec_exact_and_unknown():
    exact = parse_version_spec("7.0.15")
    assert exact.is_exact and exact.version.parts == (7, 0, 15)
    assert exact.covers((7, 0)) and not exact.covers((7, 2))
    assert parse_version_spec(None).kind == "unknown"
    assert parse_version_spec("").kind == "unknown"
    assert not parse_version_spec("no digits here").covers((1,))


def test_version_startswith_and_compare_parts():
    assert parse_version("9.6.24").startswith((9, 6))
    assert not parse_version("9.6.24").startswith((9, 5))
    assert compare_parts((9, 6), (9, 6, 0)) == 0
    assert compare_parts((10,), (9, 6, 24)) == 1
    assert compare_parts((1, 22), (1, 3)) == 1  # numbers, not strings


def test_parse_cycle():
    assert parse_cycle("9.6") == (9, 6)
    assert parse_cycle("2012-r2") is None
    assert parse_cycle("10") == (10,)
