"""Spend throughput: the ledgered, idempotent spend against a bare conditional UPDATE.

Prints JSON. The baseline (one UPDATE ... WHERE credits >= n per transaction, no ledger row,
no idempotency check) runs in the same process on the same database, so the ratio says what
the ledger costs, whatever the machine.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.db import create_db_engine, session_scope
from stylestudio.services import accounts, credits
from tests.support.databases import empty_database, migrate, postgres_available

N = 500


def _user(engine: Engine, email: str) -> int:
    with session_scope(engine) as session:
        user = accounts.sign_up(session, email=email, password="bench-password")
        assert user.id is not None
        session.execute(sa.text("UPDATE users SET credits = 1000000 WHERE id = :u"), {"u": user.id})
        return user.id


def _timed(fn: Callable[[int], None]) -> float:
    start = time.perf_counter()
    for i in range(N):
        fn(i)
    return time.perf_counter() - start


def bench(engine: Engine) -> dict[str, float]:
    ledger_user = _user(engine, "ledger@bench.local")
    bare_user = _user(engine, "bare@bench.local")

    def ledgered(i: int) -> None:
        with session_scope(engine) as session:
            credits.spend(session, user_id=ledger_user, amount=1, idempotency_key=f"bench:{i}")

    def bare(_i: int) -> None:
        with session_scope(engine) as session:
            session.execute(
                sa.text("UPDATE users SET credits = credits - 1 WHERE id = :u AND credits >= 1"),
                {"u": bare_user},
            )

    bare_s = _timed(bare)
    ledger_s = _timed(ledgered)
    return {
        "spends": N,
        "baseline_bare_update_per_s": round(N / bare_s, 1),
        "ledgered_spend_per_s": round(N / ledger_s, 1),
        "ledger_cost_ratio": round(ledger_s / bare_s, 2),
    }


def main() -> None:
    results: dict[str, object] = {"benchmark": "credits.spend"}
    with tempfile.TemporaryDirectory() as tmp:
        kinds = ["sqlite"] + (["postgresql"] if postgres_available() else [])
        for kind in kinds:
            with empty_database(kind, Path(tmp)) as url:
                migrate(url)
                engine = create_db_engine(url)
                try:
                    results[kind] = bench(engine)
                finally:
                    engine.dispose()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
