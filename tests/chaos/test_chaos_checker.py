"""The chaos run's checker on synthetic histories: a clean one passes, and each kind of broken promise is named."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import chaos_checker


def op(kind: str, sent: float, status: int | None, **fields: Any) -> dict[str, Any]:
    return {"op": kind, "sent": sent, "acked": sent + 0.05, "status": status, "replica": "resource1", **fields}


def clean() -> dict[str, Any]:
    return {
        "ops": [
            op("token", 0.0, 200, grant_type="authorization_code", code="c1", grant="g1", access="a1", refresh="r1"),
            op("token", 0.1, 400, grant_type="authorization_code", code="c1", grant="g2"),  # the replay, refused
            op("token", 0.5, 200, grant_type="refresh_token", presented="r1", grant="g1", access="a2", refresh="r2"),
            op("token", 0.6, 400, grant_type="refresh_token", presented="r1", grant="g1"),
            op("token", 0.7, 200, grant_type="client_credentials", access="s1"),
            op("revoke", 1.0, 200, token_kind="access", token="s1"),
            op("probe", 1.5, 200, token="s1", grant=None),  # within the second: allowed
            op("probe", 2.5, 401, token="s1", grant=None),
            op("probe", 2.6, 503, token="s1", grant=None),  # failing closed is allowed
            op("note_write", 3.0, 201, title="t1", body="b1", note_id="n1", token="a2", grant="g1"),
            op("note_write", 3.1, None, title="t2", body="b2", token="a2", grant="g1"),  # unacknowledged, landed
            op("note_write", 3.2, 503, title="t3", body="b3", token="a2", grant="g1"),  # unacknowledged, lost
            op("note_read", 3.5, 200, note_id="n1", matches=True, token="a2", grant="g1"),
            op("revoke", 4.0, 200, token_kind="refresh", token="r2", grant="g1"),
            op("introspect", 4.5, 200, active=True, token="a2", grant="g1"),
            op("introspect", 5.5, 200, active=False, token="a2", grant="g1"),
            op("me", 5.5, 401, token="a2", grant="g1"),
        ],
        "faults": [{"kind": "flushall", "started": 2.0, "ended": 2.1}],
        "ready": {"authz1": 0.5, "resource1": 3.0},
        "final_notes": {"n1": {"title": "t1", "body": "b1"}, "n2": {"title": "t2", "body": "b2"}},
    }


def rules(history: dict[str, Any]) -> list[str]:
    return sorted(v.rule for v in chaos_checker.check(history))


def test_a_clean_history_passes() -> None:
    assert chaos_checker.check(clean()) == []


def test_a_revoked_access_token_accepted_after_a_second() -> None:
    history = clean()
    history["ops"].append(op("probe", 2.2, 200, token="s1", grant=None))
    (violation,) = chaos_checker.check(history)
    assert violation.rule == "accepted-after-revocation"
    # The FLUSHALL between the token's issuance and its acceptance: issue 21's known gap.
    assert violation.after_redis_loss == ("flushall@2.0",)
    assert chaos_checker.known_gap(violation)
    history["faults"] = []
    (violation,) = chaos_checker.check(history)
    assert not chaos_checker.known_gap(violation)  # with no Redis loss, a new bug


def test_anything_of_a_revoked_grant_accepted_after_a_second() -> None:
    for late in (
        op("me", 5.2, 200, token="a2", grant="g1"),
        op("note_write", 5.2, 201, title="t9", body="b9", note_id="n9", token="a2", grant="g1"),
        op("introspect", 5.2, 200, active=True, token="a2", grant="g1"),
        op("token", 5.2, 200, grant_type="refresh_token", presented="r2", grant="g1"),
    ):
        history = clean()
        history["ops"].append(late)
        if late["op"] == "note_write":
            history["final_notes"]["n9"] = {"title": "t9", "body": "b9"}
        assert rules(history) == ["accepted-after-revocation"], late
        history["faults"] = [{"kind": "redis_stop", "started": 2.0, "ended": 3.0}]
        assert not chaos_checker.known_gap(chaos_checker.check(history)[0])


def test_a_code_redeemed_twice() -> None:
    history = clean()
    history["ops"].append(op("token", 0.2, 200, grant_type="authorization_code", code="c1", grant="g3"))
    assert rules(history) == ["code-redeemed-twice"]


def test_a_refresh_token_rotated_twice() -> None:
    history = clean()
    history["ops"].append(op("token", 0.6, 200, grant_type="refresh_token", presented="r1", grant="g1"))
    assert rules(history) == ["refresh-rotated-twice"]


def test_an_acknowledged_note_lost_changed_or_half_written() -> None:
    lost = clean()
    del lost["final_notes"]["n1"]
    assert rules(lost) == ["note-lost"]
    changed = clean()
    changed["final_notes"]["n1"] = {"title": "t1", "body": "b"}
    assert rules(changed) == ["note-changed", "note-half-written"]
    half = clean()
    half["final_notes"]["n3"] = {"title": "t3", "body": ""}
    assert rules(half) == ["note-half-written"]
    unknown = clean()
    unknown["final_notes"]["n4"] = {"title": "never", "body": ""}
    assert rules(unknown) == ["note-unknown"]
    read = clean()
    read["ops"].append(op("note_read", 3.6, 200, note_id="n1", matches=False, token="a2", grant="g1"))
    assert rules(read) == ["note-changed"]


def test_a_server_error_other_than_503() -> None:
    history = clean()
    history["ops"].append(op("token", 0.8, 500, grant_type="client_credentials"))
    assert rules(history) == ["server-error"]


def test_a_replica_not_ready_in_time() -> None:
    for late in (10.5, None):
        history = clean()
        history["ready"]["resource2"] = late
        assert rules(history) == ["not-ready"]


def test_the_summary_counts_faults_operations_and_violations() -> None:
    history = clean()
    history["ops"].append(op("token", 0.8, 500, grant_type="client_credentials"))
    summary = chaos_checker.summary(history, chaos_checker.check(history))
    assert summary["faults"] == {"flushall": 1}
    assert summary["operations"]["token client_credentials"] == 2
    assert summary["operations"]["revoke refresh"] == 1
    assert summary["violations"] == {"server-error": 1}
    assert summary["known_gap_violations"] == 0


def test_a_failed_final_read_is_one_violation_not_every_note_lost() -> None:
    history = clean()
    history["final_notes"] = None
    assert rules(history) == ["final-read-failed"]
