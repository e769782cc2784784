"""The wave plan: which wave each move group moves in, and why. Pure functions; the rules are data the
architects change (discovery.analyses.wave_rules declares them; they are stored in the store and set with
`estatemap analyze --wave-capacity …`, the GUI's Move groups page or the workbook's Wave rules sheet).

The rules, in the order the planner applies them:

1. **Shared infrastructure** is wave 0 (discovery.analyses.analysis): reachable from the target before
   anything that uses it moves.
2. **Pins**: a group the architects pinned to a wave (table group_annotations: the workbook's Wave column)
   moves in that wave, whatever the rules below say. What a pin breaks is reported as a warning, never
   silently accepted: a dependency order, the end-of-life remediation, the capacity; a pin whose group no
   longer exists (its hosts changed, so its id did) is reported too.
3. **Pilot** (wave 1): up to `pilot_groups` groups that qualify, lowest risk first: every host's migration
   risk (discovery.analyses.risk) at most `pilot_max_risk`, no host annotated as holding patient data, no
   host rated medium, high or critical, no end-of-life system, and no dependency on another group (with
   `together`: none either way), so the pilot waits for nothing. The pilot respects the capacity.
4. **Order of the rest**: by tier, then end-of-life remediation (groups without first), then risk (the
   highest host risk in the group, lowest first), then size. A group's *tier* is its highest host
   criticality (low or unset, medium, high, critical); a host holding patient data makes it at least high.
   With `separate_tiers`, groups of two tiers never share a wave, so the waves climb from the least to the
   most critical systems and the team learns on the easy ones.
5. **End-of-life remediation**: a group holding a system past its end of support (an eol or os-eol finding)
   moves no earlier than `remediation_waves` waves after the first regular wave, leaving that time to
   upgrade or replace the system where it stands; the wave before its move lists it under *remediation*
   (a wave can hold nothing but remediation). With 0 no time is set aside.
6. **Dependencies between groups**: shared infrastructure aside, a host of one group may use a service of
   another group's host (a directory or DNS server with too few clients to count as shared, say: such
   traffic does not tie groups together). With `server-first` the client's group moves in a later wave than
   the server's, so whatever moves finds what it calls already there and traffic crosses the boundary one
   way only; groups in a dependency cycle move in one wave. With `together` the groups a dependency joins
   move in one wave, so no traffic crosses the boundary at all.
7. **Capacity**: at most `wave_capacity` hosts (or groups: `capacity_unit`) per wave, 0 for no limit; each
   group takes the first wave from its earliest possible one that has room (and holds its tier). A group
   (or a set of groups that must move together) larger than the capacity has a wave to itself, with a
   warning.

Each group's wave comes with its reasons (short sentences), each wave with its own, and the plan with its
warnings.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import networkx as nx

from discovery.analyses.wave_rules import WaveRules
from discovery.records.model import counted

TIERS = ("low", "medium", "high", "critical")   # a group's tier, least critical first
CRITICALITY_TIER = {"low": 0, "medium": 1, "high": 2, "critical": 3}
PATIENT_DATA_TIER = 2                            # patient data makes a group at least "high"
SHARED_WAVE = 0
PILOT_WAVE = 1
NAMES_SHOWN = 5                                   # names listed in one reason before "and N more"
SKIP_EXAMINED = 12                                # waves passed over that a reason names one by one


# -- what the planner knows of a group -----------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class GroupFacts:
    """A move group as the planner sees it."""
    id: str
    name: str
    host_ids: tuple[str, ...]
    max_risk: float = 0.0               # the highest migration risk of its hosts
    riskiest: str | None = None         # the name of that host
    criticality: str | None = None      # the highest criticality its hosts are rated (None: none rated)
    rated: str | None = None            # the name of that host
    patient_data: tuple[str, ...] = ()  # names of its hosts annotated as holding patient data
    legacy: tuple[str, ...] = ()        # names of its hosts holding an end-of-life system
    legacy_host_ids: tuple[str, ...] = ()

    @property
    def tier_rank(self) -> int:
        rank = CRITICALITY_TIER.get(self.criticality or "low", 0)
        return max(rank, PATIENT_DATA_TIER) if self.patient_data else rank

    @property
    def tier(self) -> str:
        return TIERS[self.tier_rank]


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupDependency:
    """Hosts of group `client` use services of hosts of group `server`."""
    client: str
    server: str
    ports: tuple[str, ...]              # "tcp/389", sorted
    dependencies: int                   # host-level dependencies behind it


def build_group_facts(groups: Iterable[Mapping], hosts: Iterable[Mapping], risk: Mapping[str, Mapping],
                      legacy: Mapping[str, object], labels: Mapping[str, str]) -> list[GroupFacts]:
    """Return the planner's facts per group.

    `groups`: dicts with id, name, host_ids; `hosts`: inventory host rows (criticality, patient_data);
    `risk`: {host id: {"score": ...}} (discovery.analyses.risk.score_hosts); `legacy`: the host ids holding an
    end-of-life system (a mapping or set); `labels`: {host id: name}."""
    rows = {h["id"]: h for h in hosts}

    def label(host_id: str) -> str:
        return labels.get(host_id, host_id)

    facts = []
    for g in groups:
        members = tuple(g["host_ids"])
        scores = [(float((risk.get(h) or {}).get("score") or 0), h) for h in members]
        top_score, top_host = min(scores, key=lambda s: (-s[0], s[1])) if scores else (0.0, None)
        rated = [(CRITICALITY_TIER[c], h) for h in members
                 if (c := str((rows.get(h) or {}).get("criticality") or "").lower()) in CRITICALITY_TIER]
        worst = min(rated, key=lambda r: (-r[0], r[1])) if rated else None
        patient = tuple(sorted(label(h) for h in members
                               if str((rows.get(h) or {}).get("patient_data") or "").lower() == "yes"))
        old = tuple(sorted((h for h in members if h in legacy), key=lambda h: (label(h), h)))
        facts.append(GroupFacts(id=g["id"], name=g["name"], host_ids=members, max_risk=top_score,
                                riskiest=label(top_host) if top_host and top_score else None,
                                criticality=TIERS[worst[0]] if worst else None,
                                rated=label(worst[1]) if worst else None, patient_data=patient,
                                legacy=tuple(label(h) for h in old), legacy_host_ids=old))
    return facts


def group_dependencies(H: nx.DiGraph, group_of: Mapping[str, str]) -> list[GroupDependency]:
    """Return the dependencies between groups in the host graph `H` (discovery.analyses.graph.host_graph):
    an edge from a host of one group to a host of another. `group_of` maps each grouped host to its group;
    shared and external hosts are in no group, so what they take part in is left out."""
    pairs: dict[tuple[str, str], list] = {}
    for u, nbrs in H.adjacency():
        a = group_of.get(u)
        if a is None:
            continue
        for v, d in nbrs.items():
            b = group_of.get(v)
            if b is None or b == a:
                continue
            entry = pairs.setdefault((a, b), [0, set()])
            entry[0] += d["count"]
            entry[1].update(f"{dep['protocol']}/{dep['port']}" for dep in d["dependencies"]
                            if dep.get("port") is not None)
    return [GroupDependency(client=a, server=b, ports=tuple(sorted(ports)), dependencies=n)
            for (a, b), (n, ports) in sorted(pairs.items())]


# -- the plan ------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedWave:
    wave: int
    group_ids: tuple[str, ...]
    host_ids: tuple[str, ...]           # shared hosts (wave 0) and the groups' hosts
    tier: str | None                    # the tier of its regular groups (None: no regular group)
    reasons: tuple[str, ...]
    remediation: tuple[str, ...] = ()   # hosts whose end-of-life systems are upgraded during it (they move later)

    def to_dict(self) -> dict:
        return {"wave": self.wave, "group_ids": list(self.group_ids), "hosts": len(self.host_ids),
                "tier": self.tier, "reasons": list(self.reasons), "remediation": list(self.remediation)}


@dataclass(frozen=True, slots=True, kw_only=True)
class WavePlan:
    rules: WaveRules
    waves: tuple[PlannedWave, ...]
    group_waves: dict[str, int]
    group_reasons: dict[str, tuple[str, ...]]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        """Return the plan as the JSON export's `wave_plan`: rules, waves (wave, group_ids, hosts, tier,
        reasons, remediation) and warnings."""
        return {"rules": self.rules.to_dict(), "waves": [w.to_dict() for w in self.waves],
                "warnings": list(self.warnings)}

    def analysis_waves(self) -> list[dict]:
        """Return the waves in the analysis's `waves` shape: number, group_ids, host_ids, note."""
        return [{"number": w.wave, "group_ids": list(w.group_ids), "host_ids": list(w.host_ids),
                 "note": " ".join(w.reasons)} for w in self.waves]


@dataclass(slots=True)
class _Wave:
    number: int
    groups: list[str] = field(default_factory=list)      # regular groups (not pinned, not pilot)
    pinned: list[str] = field(default_factory=list)
    pilot: list[str] = field(default_factory=list)
    load: int = 0                                        # what the capacity counts
    hosts: int = 0
    tier: int | None = None                              # the tier rank of its regular groups
    shared_hosts: tuple[str, ...] = ()
    remediation: dict[str, int] = field(default_factory=dict)  # host id -> the wave its group moves in
    waiting: int = 0                                     # regular groups a server dependency held back
    remediated: int = 0                                  # regular groups that waited for remediation


def _short(name: str) -> str:
    """Return a group's name for a sentence: "group-3 (app01 +4)" for "group-3: app01 +4"."""
    head, sep, tail = name.partition(": ")
    return f"{head} ({tail})" if sep else name


def _listed(names: list[str], limit: int = NAMES_SHOWN) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _waves_text(numbers: Iterable[int]) -> str:
    """Return "wave 3", "waves 2, 4" or "waves 2-9, 12" (runs of consecutive waves as ranges)."""
    numbers = sorted(set(numbers))
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    text = ", ".join(str(a) if a == b else f"{a}, {b}" if b == a + 1 else f"{a}-{b}" for a, b in runs)
    return ("wave " if len(numbers) == 1 else "waves ") + text


class _Planner:
    def __init__(self, groups: list[GroupFacts], dependencies: Iterable[GroupDependency],
                 shared_host_ids: Iterable[str], pins: Mapping[str, int], rules: WaveRules):
        self.rules = rules
        self.groups = {g.id: g for g in groups}
        self.order = [g.id for g in groups]
        self.shared = tuple(sorted(shared_host_ids))
        self.pins = {gid: int(w) for gid, w in sorted(pins.items()) if gid in self.groups}
        self.stale_pins = {gid: w for gid, w in sorted(pins.items()) if gid not in self.groups}
        self.servers: dict[str, dict[str, GroupDependency]] = defaultdict(dict)
        self.clients: dict[str, dict[str, GroupDependency]] = defaultdict(dict)
        for d in dependencies:
            if d.client in self.groups and d.server in self.groups and d.client != d.server:
                self.servers[d.client][d.server] = d
                self.clients[d.server][d.client] = d
        self.waves: dict[int, _Wave] = {}
        self.wave_of: dict[str, int] = {}
        self.reasons: dict[str, list[str]] = {gid: [] for gid in self.groups}
        self.warnings: list[str] = []
        self.unit_of: dict[str, int] = {}
        self.open_from: dict[int, int] = {}                  # tier rank -> no earlier wave can take it
        self.legacy_labels = {h: name for g in groups for h, name in zip(g.legacy_host_ids, g.legacy)}
        self.first = PILOT_WAVE
        self.pilot_qualified = 0

    # capacity

    def size(self, gid: str) -> int:
        return 1 if self.rules.capacity_unit == "groups" else len(self.groups[gid].host_ids)

    def wave(self, number: int) -> _Wave:
        return self.waves.get(number) or self.waves.setdefault(number, _Wave(number))

    def put(self, gid: str, number: int, kind: str) -> None:
        wave = self.wave(number)
        getattr(wave, kind).append(gid)
        wave.load += self.size(gid)
        wave.hosts += len(self.groups[gid].host_ids)
        self.wave_of[gid] = number

    def fits(self, wave: _Wave | None, size: int) -> bool:
        capacity = self.rules.wave_capacity
        return wave is None or not wave.load or not capacity or wave.load + size <= capacity

    def usable(self, wave: _Wave | None, size: int, tier: int) -> str | None:
        """Return None when `wave` can take a unit of `size` and `tier`, else why not: "full" or "tier"."""
        if wave is None or not (wave.load or wave.groups):
            return None
        if self.rules.separate_tiers and wave.tier is not None and wave.tier != tier:
            return "tier"
        return None if self.fits(wave, size) else "full"

    def first_fit(self, floor: int, size: int, tier: int) -> tuple[int, list[tuple[int, str]], tuple | None]:
        """Return the first wave from `floor` with room for `size` that holds no other tier, why the waves
        before it (from `floor`) were passed over, and the range of them passed over unexamined.

        Waves only fill up and keep their tier, so the waves no unit of a tier can join any more are skipped
        at once (a pointer per tier): a plan of thousands of waves is not scanned from its start each time."""
        start = self.open_from.get(tier, self.first)
        while self.usable(self.waves.get(start), 1, tier) is not None:
            start += 1
        self.open_from[tier] = start
        jumped = None
        number = floor
        if start - floor > SKIP_EXAMINED:
            jumped, number = (floor, start - 1), start
        passed = []
        while (why := self.usable(self.waves.get(number), size, tier)) is not None:
            passed.append((number, why))
            number += 1
        return number, passed, jumped

    # the steps

    def plan(self) -> WavePlan:
        if self.shared:
            self.wave(SHARED_WAVE).shared_hosts = self.shared
        for gid, number in self.stale_pins.items():
            self.warnings.append(f"A pin to wave {number} names group {gid}, which no longer exists (its hosts "
                                 f"changed, and with them its id): pin the group that holds them now.")
        for gid, number in self.pins.items():
            self.put(gid, number, "pinned")
            self.reasons[gid].append(f"Pinned to wave {number} by the architects.")
        self.place_pilot()
        self.place_rest()
        self.check_pins()
        self.check_capacity()
        return self.result()

    def pilot_candidate(self, g: GroupFacts) -> bool:
        rules = self.rules
        if g.id in self.pins or g.patient_data or g.legacy or g.max_risk > rules.pilot_max_risk:
            return False
        if g.criticality not in (None, "low") or self.servers[g.id]:
            return False
        return rules.dependency_order != "together" or not self.clients[g.id]

    def place_pilot(self) -> None:
        rules = self.rules
        if not rules.pilot_groups:
            return
        candidates = sorted((g for g in self.groups.values() if self.pilot_candidate(g)),
                            key=lambda g: (g.max_risk, len(g.host_ids), g.id))
        chosen = []
        for g in candidates:
            if len(chosen) == rules.pilot_groups:
                break
            if self.fits(self.waves.get(PILOT_WAVE), self.size(g.id)):
                self.put(g.id, PILOT_WAVE, "pilot")
                chosen.append(g)
        self.pilot_qualified = len(candidates)
        if not chosen:
            self.warnings.append(
                f"No group qualifies for the pilot (every host's risk at most {rules.pilot_max_risk}, no patient "
                f"data, criticality low or unset, no end-of-life system, no dependency on another group)"
                + (f" and fits in wave {PILOT_WAVE}" if candidates else "")
                + ": the plan starts without one. Raise pilot_max_risk or annotate hosts to have one.")
            return
        self.first = PILOT_WAVE + 1
        for g in chosen:
            risk = f"highest host risk {g.max_risk:g}" + (f" ({g.riskiest})" if g.riskiest else "")
            self.reasons[g.id].append(
                f"Pilot: low risk ({risk}, at most {rules.pilot_max_risk}), no patient data, criticality low or "
                f"unset, no end-of-life system, depends on no other group.")

    def units(self, rest: list[str]) -> tuple[list[list[str]], nx.DiGraph]:
        """Return the sets of groups that move in one wave, and the graph of them (client unit → server unit)."""
        D = nx.DiGraph()
        D.add_nodes_from(rest)
        D.add_edges_from((c, s) for c in rest for s in self.servers[c] if s in D)
        if self.rules.dependency_order == "together":
            units = sorted((sorted(c) for c in nx.weakly_connected_components(D)), key=lambda m: m[0])
            U = nx.DiGraph()
            U.add_nodes_from(range(len(units)))
            return units, U
        C = nx.condensation(D)
        return [sorted(C.nodes[c]["members"]) for c in range(len(C))], C

    def key(self, members: list[str]) -> tuple:
        gs = [self.groups[m] for m in members]
        return (max(g.tier_rank for g in gs), any(g.legacy for g in gs), max(g.max_risk for g in gs),
                sum(len(g.host_ids) for g in gs), members[0])

    def place_rest(self) -> None:
        rest = [gid for gid in self.order if gid not in self.wave_of]
        units, U = self.units(rest)
        for i, members in enumerate(units):
            for m in members:
                self.unit_of[m] = i
        waiting = {i: U.out_degree(i) for i in U}
        ready = [(self.key(units[i]), i) for i in U if not waiting[i]]
        heapq.heapify(ready)
        while ready:
            _, i = heapq.heappop(ready)
            self.place_unit(units[i])
            for client in U.pred[i]:
                waiting[client] -= 1
                if not waiting[client]:
                    heapq.heappush(ready, (self.key(units[client]), client))

    def place_unit(self, members: list[str]) -> None:
        rules = self.rules
        gs = [self.groups[m] for m in members]
        tier = max(g.tier_rank for g in gs)
        size = sum(self.size(m) for m in members)
        floor = self.first
        legacy = [g for g in gs if g.legacy]
        remediation_floor = self.first + rules.remediation_waves
        if legacy and rules.remediation_waves and remediation_floor > floor:
            floor = remediation_floor
        held = False
        for m in members:
            for s in sorted(self.servers[m]):
                if s in members:
                    continue
                need = self.wave_of[s] + (1 if rules.dependency_order == "server-first" else 0)
                if need > floor:
                    floor, held = need, True
        number, passed, jumped = self.first_fit(floor, size, tier)
        wave = self.wave(number)
        wave.tier = tier
        wave.waiting += held * len(members)
        wave.remediated += sum(1 for g in legacy if number >= remediation_floor and rules.remediation_waves)
        for g in gs:
            self.put(g.id, number, "groups")
            reasons = self.reasons[g.id]
            reasons.append(self.tier_reason(g, tier))
            if g.max_risk:
                reasons.append(f"Highest host risk {g.max_risk:g}" + (f" ({g.riskiest})." if g.riskiest else "."))
            if g.legacy:
                reasons.append(self.legacy_reason(g, remediation_floor))
                if rules.remediation_waves:
                    self.remediate(g, number)
            reasons.extend(self.dependency_reasons(g, members))
        full = [n for n, why in passed if why == "full"]
        other = [n for n, why in passed if why == "tier"]
        for numbers, verb, what in sorted(((full, "is", f"full (capacity {rules.wave_capacity} {rules.capacity_unit})"),
                                           (other, "holds", "another tier (separate_tiers)")),
                                          key=lambda item: item[0][:1]):
            if numbers:
                verb = verb if len(numbers) == 1 else {"is": "are", "holds": "hold"}[verb]
                for g in gs:
                    self.reasons[g.id].append(f"{_waves_text(numbers).capitalize()} {verb} {what}.")
        if jumped:
            for g in gs:
                self.reasons[g.id].append(f"Waves {jumped[0]}-{jumped[1]} are full or hold another tier.")
        if rules.wave_capacity and size > rules.wave_capacity:
            unit = rules.capacity_unit
            self.warnings.append(
                (f"{_short(gs[0].name)} has {size} {unit}" if len(gs) == 1 else
                 f"{_listed([_short(g.name) for g in gs])} must move in one wave and hold {size} {unit}")
                + f", more than the wave capacity ({rules.wave_capacity}): wave {number} takes "
                + ("it alone; see its suggested split" if len(gs) == 1 else "them alone")
                + ", or raise wave_capacity.")
            for g in gs:
                self.reasons[g.id].append(f"Larger than the wave capacity ({rules.wave_capacity} "
                                          f"{rules.capacity_unit}): wave {number} is its own.")

    def tier_reason(self, g: GroupFacts, unit_tier: int) -> str:
        if g.patient_data and g.tier_rank == PATIENT_DATA_TIER and CRITICALITY_TIER.get(g.criticality or "low", 0) < 2:
            why = f"{_listed(list(g.patient_data), 3)} {'holds' if len(g.patient_data) == 1 else 'hold'} patient data"
        elif g.criticality and g.criticality != "low":
            why = f"{g.rated} is rated {g.criticality}"
        else:
            why = "no patient data, criticality low or unset"
        text = f"Tier {g.tier}: {why}."
        if unit_tier > g.tier_rank:
            text += f" It moves with groups of tier {TIERS[unit_tier]}."
        return text

    def legacy_reason(self, g: GroupFacts, remediation_floor: int) -> str:
        hosts = _listed(list(g.legacy), 3)
        if not self.rules.remediation_waves:
            return f"End-of-life systems on {hosts}: after the groups without any in its tier."
        return (f"End-of-life systems on {hosts}: upgraded where they stand first, so it moves no earlier than "
                f"wave {remediation_floor} (remediation_waves {self.rules.remediation_waves}).")

    def remediate(self, g: GroupFacts, number: int) -> None:
        when = number - self.rules.remediation_waves
        if when < 0:
            return
        for h in g.legacy_host_ids:
            self.wave(when).remediation[h] = number

    def dependency_reasons(self, g: GroupFacts, members: list[str]) -> list[str]:
        reasons = []
        together = self.rules.dependency_order == "together"
        servers = sorted(self.servers[g.id].values(), key=lambda d: (self.wave_of.get(d.server, 0), d.server))
        inside = [d for d in servers if d.server in members]
        outside = [d for d in servers if d.server not in members]
        partners = [c for c in self.clients[g.id] if c in members]
        for d in outside[:3]:
            reasons.append(f"Depends on {_short(self.groups[d.server].name)} (wave {self.wave_of[d.server]}) "
                           f"through {_listed(list(d.ports), 3) or 'a service'}: moves "
                           + ("with it or after it (together)." if together else "after it (server-first)."))
        if len(outside) > 3:
            reasons.append(f"And on {counted(len(outside) - 3, 'more group')} of earlier waves.")
        if together and (inside or partners):
            names = sorted({_short(self.groups[x].name) for x in [d.server for d in inside] + partners})
            reasons.append(f"Moves with {_listed(names, 3)}: a dependency joins them (together).")
        elif inside:
            names = sorted({_short(self.groups[d.server].name) for d in inside})
            reasons.append(f"In a dependency cycle with {_listed(names, 3)}: they move in one wave.")
        return reasons

    def check_pins(self) -> None:
        """Warn about what pins break: a dependency order, the remediation time."""
        together = self.rules.dependency_order == "together"
        for client in self.order:
            for server, d in sorted(self.servers[client].items()):
                wc, ws = self.wave_of[client], self.wave_of[server]
                cycle = self.unit_of.get(client) is not None and self.unit_of.get(client) == self.unit_of.get(server)
                broken = wc != ws if together else (wc < ws or (wc == ws and not cycle))
                if not broken:
                    continue
                who = [x for x in (client, server) if x in self.pins] or [client]
                pinned = " and ".join(f"{_short(self.groups[x].name)} is pinned to wave {self.wave_of[x]}" for x in who
                                      if x in self.pins) or "a pin elsewhere moved it"
                what = (f"they do not move together (together)" if together else
                        f"it moves {'before' if wc < ws else 'with'} its server, not after it (server-first)")
                self.warnings.append(
                    f"Dependency order broken: {_short(self.groups[client].name)} (wave {wc}) depends on "
                    f"{_short(self.groups[server].name)} (wave {ws}) through {_listed(list(d.ports), 3) or 'a service'}"
                    f": {what}; {pinned}.")
                for x in who:
                    other = server if x == client else client
                    self.reasons[x].append(f"Warning: this wave breaks the dependency order with "
                                           f"{_short(self.groups[other].name)} (wave {self.wave_of[other]}).")
        if not self.rules.remediation_waves:
            return
        floor = self.first + self.rules.remediation_waves
        for gid, number in self.pins.items():
            g = self.groups[gid]
            if not g.legacy:
                continue
            if number >= floor:
                self.remediate(g, number)
                continue
            self.warnings.append(f"{_short(g.name)} is pinned to wave {number} but holds end-of-life systems "
                                 f"({_listed(list(g.legacy), 3)}): the remediation rule would move it no earlier "
                                 f"than wave {floor}, after they are upgraded.")
            self.reasons[gid].append(f"Warning: pinned before its end-of-life systems' remediation "
                                     f"(wave {floor} at the earliest otherwise).")

    def check_capacity(self) -> None:
        capacity = self.rules.wave_capacity
        if not capacity:
            return
        for number, wave in sorted(self.waves.items()):
            if wave.pinned and wave.load > capacity:
                self.warnings.append(f"Wave {number} holds {wave.load} {self.rules.capacity_unit}, over the "
                                     f"capacity of {capacity}, because groups are pinned to it "
                                     f"({_listed([_short(self.groups[g].name) for g in wave.pinned], 3)}).")

    def wave_reasons(self, wave: _Wave) -> list[str]:
        rules, reasons = self.rules, []
        if wave.shared_hosts:
            reasons.append(f"Shared infrastructure ({counted(len(wave.shared_hosts), 'host')}): reachable from the "
                           f"target before anything that uses it moves.")
        if wave.pilot:
            short = ""
            if len(wave.pilot) < rules.pilot_groups:
                short = (f" (of the {rules.pilot_groups} asked for, " + (
                    f"only {self.pilot_qualified} qualify)" if self.pilot_qualified < rules.pilot_groups
                    else f"only {len(wave.pilot)} fit the capacity)"))
            reasons.append(f"Pilot: {counted(len(wave.pilot), 'group')}{short} of the lowest risk, every host's "
                           f"risk at most {rules.pilot_max_risk}, with no patient data, criticality low or unset, no "
                           f"end-of-life system and no dependency on another group.")
        if wave.groups:
            hosts = sum(len(self.groups[g].host_ids) for g in wave.groups)
            head = f"Tier {TIERS[wave.tier]}" if rules.separate_tiers else "Next by tier, remediation and risk"
            room = ("no capacity limit" if not rules.wave_capacity else
                    f"{wave.load} of the {rules.wave_capacity} {rules.capacity_unit} a wave takes"
                    if wave.load <= rules.wave_capacity else f"over the capacity of {rules.wave_capacity}")
            reasons.append(f"{head}: {counted(len(wave.groups), 'group')}, {counted(hosts, 'host')} ({room}).")
            if wave.waiting:
                reasons.append(f"{counted(wave.waiting, 'group')} here {'waits' if wave.waiting == 1 else 'wait'} "
                               f"for a group {'it depends' if wave.waiting == 1 else 'they depend'} on "
                               f"({rules.dependency_order}).")
            if wave.remediated:
                reasons.append(f"{counted(wave.remediated, 'group')} here had end-of-life systems upgraded in the "
                               f"waves before.")
        if wave.pinned:
            reasons.append(f"Pinned here by the architects: "
                           f"{_listed([_short(self.groups[g].name) for g in wave.pinned])}.")
        if wave.remediation:
            hosts = list(wave.remediation)
            names = [self.legacy_labels.get(h, h) for h in hosts]
            reasons.append(f"Remediation: upgrade or replace the end-of-life systems on {_listed(names)} before "
                           f"they move ({_waves_text(wave.remediation.values())}).")
        return reasons

    def result(self) -> WavePlan:
        waves = []
        for number, wave in sorted(self.waves.items()):
            groups = wave.pilot + wave.pinned + wave.groups
            if not (groups or wave.shared_hosts or wave.remediation):
                continue
            hosts = list(wave.shared_hosts) + [h for g in groups for h in self.groups[g].host_ids]
            waves.append(PlannedWave(wave=number, group_ids=tuple(sorted(groups)), host_ids=tuple(sorted(hosts)),
                                     tier=TIERS[wave.tier] if wave.tier is not None else None,
                                     reasons=tuple(self.wave_reasons(wave)),
                                     remediation=tuple(sorted(wave.remediation))))
        return WavePlan(rules=self.rules, waves=tuple(waves), group_waves=dict(self.wave_of),
                        group_reasons={gid: tuple(r) for gid, r in self.reasons.items()},
                        warnings=tuple(self.warnings))


def plan_waves(groups: Iterable[GroupFacts], dependencies: Iterable[GroupDependency] = (), *,
               shared_host_ids: Iterable[str] = (), pins: Mapping[str, int] | None = None,
               rules: WaveRules | None = None) -> WavePlan:
    """Return the wave plan of `groups` under `rules` (default: WaveRules()): each group's wave and reasons,
    each wave's reasons, and the warnings. `pins`: {group id: wave} the architects set; `shared_host_ids` make
    wave 0."""
    return _Planner(list(groups), dependencies, shared_host_ids, pins or {}, rules or WaveRules()).plan()
