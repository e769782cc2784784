from discovery.analyses.risk import score_hosts


def test_every_point_of_the_score_is_explained():
    inventory = {
        "hosts": [{"id": "db", "os_name": "Debian", "patient_data": "yes", "criticality": "high"},
                  {"id": "ws", "os_name": None}],
        "services": [{"host_id": "db", "port": 104, "name": "dicom", "category": "healthcare"}],
        "databases": [{"host_id": "db"}],
        "coverage": [{"host_id": "ws"}],
    }
    findings = [
        {"host_id": "db", "category": "legacy", "severity": "high", "title": "PostgreSQL 9.6 is past end of support"},
        {"host_id": "db", "category": "insecure-protocol", "severity": "medium", "title": "DICOM without TLS"},
        {"host_id": "ws", "category": "unidentified", "severity": "info", "title": "unidentified service"},
    ]
    analysis = {"hosts": [{"host_id": "db", "fan_in": 4, "blast_radius": 9, "articulation_point": True},
                          {"host_id": "ws", "fan_in": 0, "blast_radius": 0, "articulation_point": False}],
                "cycles": [{"host_ids": ["db", "ws"]}]}
    scores = score_hosts(inventory, findings, analysis)
    db = {f["factor"]: f for f in scores["db"]["factors"]}
    assert set(db) == {"legacy", "insecure protocols", "dependents", "blast radius", "cycle",
                       "single point of failure", "data", "healthcare", "patient data", "criticality"}
    assert db["legacy"]["points"] == 15 and "PostgreSQL 9.6" in db["legacy"]["detail"]
    assert db["dependents"]["points"] == 12 and db["blast radius"]["points"] == 9
    assert scores["db"]["score"] == 100  # capped: the factors add up to more
    ws = scores["ws"]
    assert ws["score"] == sum(f["points"] for f in ws["factors"]) == 10 + 10 + 2 + 5
    assert {f["detail"] for f in ws["factors"]} >= {"its own connections were never collected",
                                                     "operating system not identified"}


def test_a_plain_host_scores_zero_with_no_factors():
    scores = score_hosts({"hosts": [{"id": "h", "os_name": "Debian"}]}, [], {})
    assert scores == {"h": {"score": 0, "factors": []}}
