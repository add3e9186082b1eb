"""GET /v1/batch-runs/{id}: a batch run's rows for the staff dashboard, admin only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from models.batch_runs import RankedRow, complete_unit, plan_units, start_run
from models.enums import AccountRole, EntityKind
from tests.auth import account_headers


def test_a_batch_run_reads_back_by_asker_then_rank(client: TestClient) -> None:
    factory = client.app.state.session_factory  # type: ignore[attr-defined]
    units = plan_units([1, 2], 1)
    with factory() as session, session.begin():
        run_id = start_run(session, "startup→investor", (EntityKind.startup, EntityKind.investor), 2, units)
        complete_unit(session, run_id, 1, [RankedRow(2, 1, 9, 0.7)])
        complete_unit(session, run_id, 0, [RankedRow(1, 2, 8, 0.5), RankedRow(1, 1, 9, 0.6)])
    run = client.get(f"/v1/batch-runs/{run_id}")
    assert run.status_code == 200, run.text
    body = run.json()
    assert (body["direction"], body["asker_kind"], body["k"], body["askers"]) == (
        "startup→investor",
        "startup",
        2,
        2,
    )
    assert [(r["asker_id"], r["rank"], r["candidate_id"]) for r in body["items"]] == [
        (1, 1, 9),
        (1, 2, 8),
        (2, 1, 9),
    ]
    one = client.get(f"/v1/batch-runs/{run_id}", params={"asker_id": 2}).json()
    assert one["items"] == [{"asker_id": 2, "rank": 1, "candidate_id": 9, "score": 0.7}]
    assert client.get("/v1/batch-runs/999").status_code == 404
    investor = account_headers(client.app, AccountRole.investor)
    assert client.get(f"/v1/batch-runs/{run_id}", headers=investor).status_code == 403
