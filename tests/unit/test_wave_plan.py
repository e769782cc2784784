"""The wave planner (discovery.analyses.wave_plan): each rule alone, then together, on small hand-built estates;
the rules' declarations (discovery.analyses.wave_rules); and a real analysis of an estate with several groups."""

from __future__ import annotations

import pytest

from discovery.analyses.analysis import analyze
from discovery.analyses.graph import build_graph, host_graph
from discovery.analyses.wave_plan import GroupDependency, GroupFacts, build_group_facts, group_dependencies, plan_waves
from discovery.analyses.wave_rules import DEFAULTS, RULES, WaveRuleError, WaveRules, rules_from, usable_rules
from tests.unit.test_graph import dep, estate

NO_PILOT = dict(pilot_groups=0)


def group(n: int, size: int = 1, **facts) -> GroupFacts:
    """Group g<n> of `size` hosts h<n>a, h<n>b, ..., named as the analysis names groups."""
    hosts = tuple(f"h{n}{chr(97 + i)}" for i in range(size))
    return GroupFacts(id=f"g{n}", name=f"group-{n}: h{n}a" + (f" +{size - 1}" if size > 1 else ""), host_ids=hosts,
                      **facts)


def uses(client: str, server: str, port: str = "tcp/389") -> GroupDependency:
    return GroupDependency(client=client, server=server, ports=(port,), dependencies=1)


def legacy(n: int, size: int = 1, **facts) -> GroupFacts:
    return group(n, size, legacy=(f"h{n}a",), legacy_host_ids=(f"h{n}a",), **facts)


def waves_of(plan) -> dict[str, int]:
    return dict(sorted(plan.group_waves.items()))


def reasons(plan, gid: str) -> str:
    return " ".join(plan.group_reasons[gid])


# -- the rules -------------------------------------------------------------------------------------------------

def test_rules_parse_what_the_cli_the_form_and_a_workbook_give():
    assert rules_from({}) == WaveRules() and WaveRules().to_dict() == DEFAULTS
    rules = rules_from({"wave_capacity": "20", "capacity_unit": " Groups ", "separate_tiers": "no",
                        "pilot_max_risk": 40.0, "dependency_order": "together", "remediation_waves": None})
    assert (rules.wave_capacity, rules.capacity_unit, rules.separate_tiers, rules.pilot_max_risk,
            rules.dependency_order, rules.remediation_waves) == (20, "groups", False, 40, "together", 1)
    assert [r.flag for r in RULES][:2] == ["--wave-capacity", "--capacity-unit"]


@pytest.mark.parametrize("values, message", [
    ({"wave_capacity": -1}, "wave_capacity: '-1' is not a whole number from 0 to 1,000,000"),
    ({"wave_capacity": 2.5}, "is not a whole number"),
    ({"wave_capacity": True}, "is not a whole number"),
    ({"pilot_max_risk": 101}, "from 0 to 100"),
    ({"dependency_order": "=cmd|' /C calc'!A0"}, "is not server-first or together"),
    ({"separate_tiers": "maybe"}, "is not yes or no"),
    ({"waves": 3}, "no wave rule called 'waves'"),
])
def test_a_bad_rule_is_refused_by_name(values, message):
    with pytest.raises(WaveRuleError, match=None) as error:
        rules_from(values)
    assert message in str(error.value)


def test_stored_rules_this_version_cannot_use_fall_back_to_their_defaults():
    rules, problems = usable_rules({"wave_capacity": 7, "capacity_unit": "racks", "from_the_future": 1})
    assert rules == WaveRules(wave_capacity=7) and len(problems) == 2


# -- each rule alone -----------------------------------------------------------------------------------------

def test_shared_infrastructure_is_wave_0_and_groups_follow():
    plan = plan_waves([group(1)], shared_host_ids=["dns", "ldap"], rules=WaveRules(**NO_PILOT))
    assert [(w.wave, w.host_ids) for w in plan.waves] == [(0, ("dns", "ldap")), (1, ("h1a",))]
    assert plan.waves[0].reasons[0].startswith("Shared infrastructure (2 hosts): reachable from the target")


def test_pilot_takes_the_lowest_risk_groups_that_qualify():
    groups = [group(1, max_risk=25), group(2, max_risk=5), group(3, max_risk=10),
              group(4, max_risk=1, patient_data=("h4a",)), group(5, max_risk=1, criticality="medium", rated="h5a"),
              legacy(6, max_risk=1), group(7, max_risk=31), group(8, max_risk=0)]
    plan = plan_waves(groups, [uses("g8", "g1")], rules=WaveRules(pilot_groups=2, separate_tiers=False))
    waves = waves_of(plan)
    assert [g for g, w in waves.items() if w == 1] == ["g2", "g3"]  # g8 depends on another group: not a pilot
    assert all(w >= 2 for g, w in waves.items() if g not in ("g2", "g3"))
    assert reasons(plan, "g2").startswith("Pilot: low risk (highest host risk 5, at most 30), no patient data")
    assert plan.waves[0].reasons[0].startswith("Pilot: 2 groups of the lowest risk")
    assert not plan.warnings


def test_no_group_qualifies_for_the_pilot_is_a_warning_and_waves_start_at_1():
    plan = plan_waves([group(1, max_risk=80)])
    assert waves_of(plan) == {"g1": 1}
    assert plan.warnings[0].startswith("No group qualifies for the pilot")
    assert plan_waves([group(1, max_risk=80)], rules=WaveRules(**NO_PILOT)).warnings == ()


def test_capacity_counts_hosts_or_groups_and_a_group_too_big_has_a_wave_of_its_own():
    groups = [group(1, 3, max_risk=1), group(2, 3, max_risk=2), group(3, 1, max_risk=3), group(4, 9, max_risk=4)]
    plan = plan_waves(groups, rules=WaveRules(wave_capacity=4, **NO_PILOT))
    assert waves_of(plan) == {"g1": 1, "g2": 2, "g3": 1, "g4": 3}  # g3 fills wave 1 up to 4 hosts
    assert "Wave 1 is full (capacity 4 hosts)." in plan.group_reasons["g2"]
    assert plan.waves[0].reasons == ("Tier low: 2 groups, 4 hosts (4 of the 4 hosts a wave takes).",)
    (warning,) = plan.warnings
    assert warning.startswith("group-4 (h4a +8) has 9 hosts, more than the wave capacity (4): wave 3 takes it alone")
    by_groups = plan_waves(groups, rules=WaveRules(wave_capacity=3, capacity_unit="groups", **NO_PILOT))
    assert waves_of(by_groups) == {"g1": 1, "g2": 1, "g3": 1, "g4": 2}
    unlimited = plan_waves(groups, rules=WaveRules(wave_capacity=0, **NO_PILOT))
    assert set(waves_of(unlimited).values()) == {1} and "no capacity limit" in unlimited.waves[0].reasons[0]


def test_server_first_moves_a_group_after_the_group_it_depends_on():
    groups = [group(1, max_risk=1), group(2, max_risk=50)]  # g1 would go first on risk, but it uses g2's LDAP
    plan = plan_waves(groups, [uses("g1", "g2")], rules=WaveRules(**NO_PILOT))
    assert waves_of(plan) == {"g1": 2, "g2": 1}
    assert ("Depends on group-2 (h2a) (wave 1) through tcp/389: moves after it (server-first)."
            in plan.group_reasons["g1"])
    assert any("waits for a group it depends on (server-first)" in r for r in plan.waves[1].reasons)


def test_together_moves_groups_a_dependency_joins_in_one_wave():
    groups = [group(1, max_risk=1), group(2, max_risk=50), group(3, max_risk=20)]
    rules = WaveRules(dependency_order="together", wave_capacity=2, **NO_PILOT)
    plan = plan_waves(groups, [uses("g1", "g2")], rules=rules)
    assert waves_of(plan) == {"g1": 2, "g2": 2, "g3": 1}  # the pair goes at its riskier member's place
    assert "Moves with group-2 (h2a): a dependency joins them (together)." in plan.group_reasons["g1"]
    assert "Moves with group-1 (h1a): a dependency joins them (together)." in plan.group_reasons["g2"]


def test_groups_in_a_dependency_cycle_share_a_wave_under_server_first():
    plan = plan_waves([group(1), group(2), group(3)], [uses("g1", "g2"), uses("g2", "g1"), uses("g3", "g1")],
                      rules=WaveRules(**NO_PILOT))
    assert waves_of(plan) == {"g1": 1, "g2": 1, "g3": 2}
    assert any("In a dependency cycle with group-2 (h2a)" in r for r in plan.group_reasons["g1"])
    assert not plan.warnings


def test_end_of_life_groups_wait_for_their_remediation_wave():
    plan = plan_waves([legacy(1, max_risk=1), group(2, max_risk=40)], rules=WaveRules(**NO_PILOT))
    assert waves_of(plan) == {"g1": 2, "g2": 1}
    wave1 = plan.waves[0]
    assert wave1.remediation == ("h1a",)
    assert wave1.reasons[-1] == ("Remediation: upgrade or replace the end-of-life systems on h1a before they move "
                                 "(wave 2).")
    assert "End-of-life systems on h1a: upgraded where they stand first, so it moves no earlier than wave 2" \
        in reasons(plan, "g1")
    alone = plan_waves([legacy(1)], rules=WaveRules(remediation_waves=2, **NO_PILOT))
    assert [(w.wave, w.group_ids, w.remediation) for w in alone.waves] == [(1, (), ("h1a",)), (3, ("g1",), ())]
    ignored = plan_waves([legacy(1, max_risk=1), group(2, max_risk=40)],
                         rules=WaveRules(remediation_waves=0, **NO_PILOT))
    assert waves_of(ignored) == {"g1": 1, "g2": 1} and not any(w.remediation for w in ignored.waves)
    assert "after the groups without any in its tier" in reasons(ignored, "g1")


def test_tiers_never_share_a_wave_unless_asked_and_climb_from_low_to_critical():
    groups = [group(1, criticality="critical", rated="h1a"), group(2, patient_data=("h2a",)), group(3),
              group(4, criticality="medium", rated="h4a")]
    plan = plan_waves(groups, rules=WaveRules(**NO_PILOT))
    assert waves_of(plan) == {"g1": 4, "g2": 3, "g3": 1, "g4": 2}
    assert [w.tier for w in plan.waves] == ["low", "medium", "high", "critical"]
    assert "Tier high: h2a holds patient data." in plan.group_reasons["g2"]
    assert "Tier critical: h1a is rated critical." in plan.group_reasons["g1"]
    mixed = plan_waves(groups, rules=WaveRules(separate_tiers=False, **NO_PILOT))
    assert set(waves_of(mixed).values()) == {1}


def test_pins_are_kept_and_what_they_break_is_a_warning():
    groups = [group(1), group(2), legacy(3)]
    plan = plan_waves(groups, [uses("g1", "g2")], pins={"g1": 1, "g3": 1, "grp-gone": 4},
                      rules=WaveRules(**NO_PILOT))
    assert waves_of(plan) == {"g1": 1, "g2": 1, "g3": 1}
    assert plan.group_reasons["g1"][0] == "Pinned to wave 1 by the architects."
    gone, order, remediation = plan.warnings
    assert gone.startswith("A pin to wave 4 names group grp-gone, which no longer exists")
    assert order == ("Dependency order broken: group-1 (h1a) (wave 1) depends on group-2 (h2a) (wave 1) through "
                     "tcp/389: it moves with its server, not after it (server-first); group-1 (h1a) is pinned to "
                     "wave 1.")
    assert remediation.startswith("group-3 (h3a) is pinned to wave 1 but holds end-of-life systems (h3a)")
    assert any(r.startswith("Warning: this wave breaks the dependency order") for r in plan.group_reasons["g1"])
    assert "Pinned here by the architects: group-1 (h1a), group-3 (h3a)." in plan.waves[0].reasons


def test_a_pin_after_its_server_breaks_nothing_and_a_server_pinned_late_holds_its_clients_back():
    assert not plan_waves([group(1), group(2)], [uses("g1", "g2")], pins={"g1": 5}).warnings
    plan = plan_waves([group(1), group(2)], [uses("g1", "g2")], pins={"g2": 3}, rules=WaveRules(**NO_PILOT))
    assert waves_of(plan) == {"g1": 4, "g2": 3} and not plan.warnings


def test_pins_over_the_capacity_are_a_warning():
    plan = plan_waves([group(1, 3), group(2, 3)], pins={"g1": 2, "g2": 2}, rules=WaveRules(wave_capacity=4))
    assert any(w.startswith("Wave 2 holds 6 hosts, over the capacity of 4, because groups are pinned to it")
               for w in plan.warnings)


# -- together ------------------------------------------------------------------------------------------------

def test_the_rules_together_on_a_small_hospital():
    """Pilot, tiers, remediation, a dependency and the capacity at once; every wave and group says why."""
    groups = [group(1, 2, max_risk=8), group(2, 3, max_risk=12), group(3, 4, max_risk=20),
              group(4, 2, max_risk=35, criticality="high", rated="h4a"), legacy(5, 2, max_risk=30),
              group(6, 5, max_risk=45, patient_data=("h6a", "h6b")), group(7, 1, max_risk=3)]
    deps = [uses("g6", "g5", "tcp/5432"), uses("g3", "g7", "tcp/53")]
    plan = plan_waves(groups, deps, shared_host_ids=["dns01"], rules=WaveRules(wave_capacity=5))
    assert waves_of(plan) == {"g1": 1, "g2": 2, "g3": 3, "g4": 5, "g5": 4, "g6": 6, "g7": 1}
    assert [w.wave for w in plan.waves] == [0, 1, 2, 3, 4, 5, 6]
    assert all(w.reasons for w in plan.waves) and all(plan.group_reasons[g.id] for g in groups)
    assert plan.waves[3].remediation == ("h5a",)  # upgraded in wave 3, moved in wave 4
    assert "Depends on group-5 (h5a +1) (wave 4) through tcp/5432: moves after it (server-first)." \
        in plan.group_reasons["g6"]
    assert not plan.warnings
    as_json = plan.to_dict()
    assert set(as_json) == {"rules", "waves", "warnings"} and as_json["rules"]["wave_capacity"] == 5
    assert as_json["waves"][1] == {"wave": 1, "group_ids": ["g1", "g7"], "hosts": 3, "tier": None,
                                   "reasons": list(plan.waves[1].reasons), "remediation": []}


def test_an_analysed_estate_with_several_groups_gets_several_waves_each_with_reasons():
    """DNS used by everyone is shared (wave 0); a directory server only one client uses is not shared, so it
    ties no group together, but its client's group moves after it."""
    hosts = [f"{p}{i}" for i in range(3) for p in ("web", "db")]
    inventory = estate(*(dep(f"web{i}", f"db{i}", 5432, category="database") for i in range(3)),
                       *(dep(h, "dns", 53, protocol="udp", category="infrastructure") for h in hosts),
                       dep("web2", "ldap", 389, category="directory"))
    result = analyze(inventory)
    groups = [{"id": g.id, "name": g.name, "host_ids": g.host_ids} for g in result.groups]
    assert len(groups) == 4 and {"dns"} == {h.host_id for h in result.hosts if h.shared}
    H = host_graph(build_graph(inventory))
    group_of = {h: g["id"] for g in groups for h in g["host_ids"]}
    deps = group_dependencies(H, group_of)
    assert [(d.client, d.server, d.ports) for d in deps] == [(group_of["web2"], group_of["ldap"], ("tcp/389",))]
    risk = {"db0": {"score": 40}, "web1": {"score": 10}}
    annotated = [{"id": h, "criticality": "high" if h == "db0" else None, "patient_data": None} for h in group_of]
    facts = build_group_facts(groups, annotated, risk, {"db1"}, {h: f"{h}-name" for h in group_of})
    by_id = {f.id: f for f in facts}
    assert by_id[group_of["db0"]].tier == "high" and by_id[group_of["db0"]].riskiest == "db0-name"
    assert by_id[group_of["db1"]].legacy == ("db1-name",)
    plan = plan_waves(facts, deps, shared_host_ids=["dns"])
    waves = plan.group_waves
    assert len({w.wave for w in plan.waves}) > 2 and all(w.reasons for w in plan.waves)
    assert all(plan.group_reasons[g["id"]] for g in groups)
    assert waves[group_of["ldap"]] < waves[group_of["web2"]]
    assert waves[group_of["db1"]] > waves[group_of["ldap"]]  # after its remediation
    assert waves[group_of["db0"]] == max(waves.values())  # the high tier last
