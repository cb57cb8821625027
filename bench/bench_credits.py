"""Spend throughput: the ledgered, idempotent spend against a bare conditional UPDATE.

Prints JSON. The baseline (one UPDATE ... WHERE credits >= n per transaction, no ledger row,
no idempotency check) runs in the same process on the same database, so the ratio says what
the ledger costs, whatever the machine. The two alternate in rounds (which one goes first
alternates too), so a neighbour's burst of load or a slow fsync lands on both alike; the
ratio is total ledgered time over total bare time, with each round's ratio beside it.
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
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import credits
from tests.support.databases import empty_database, migrate, postgres_available

ROUNDS = 6
PER_ROUND = 150
WARM_UP = 20


def _user(engine: Engine, email: str) -> int:
    with session_scope(engine) as session:
        user = accounts.sign_up(session, email=email, password="bench-password")
        assert user.id is not None
        session.execute(sa.text("UPDATE users SET credits = 1000000 WHERE id = :u"), {"u": user.id})
        return user.id


def _timed(fn: Callable[[str], None], prefix: str, count: int) -> float:
    start = time.perf_counter()
    for i in range(count):
        fn(f"{prefix}:{i}")
    return time.perf_counter() - start


def bench(engine: Engine) -> dict[str, object]:
    ledger_user = _user(engine, "ledger@bench.local")
    bare_user = _user(engine, "bare@bench.local")

    def ledgered(key: str) -> None:
        with session_scope(engine) as session:
            credits.spend(session, user_id=ledger_user, amount=1, idempotency_key=key)

    def bare(_key: str) -> None:
        with session_scope(engine) as session:
            session.execute(
                sa.text("UPDATE users SET credits = credits - 1 WHERE id = :u AND credits >= 1"),
                {"u": bare_user},
            )

    _timed(bare, "warm", WARM_UP)
    _timed(ledgered, "warm", WARM_UP)
    bare_s = ledger_s = 0.0
    rounds = []
    for r in range(ROUNDS):
        if r % 2:
            one_ledger = _timed(ledgered, f"bench:{r}", PER_ROUND)
            one_bare = _timed(bare, f"bench:{r}", PER_ROUND)
        else:
            one_bare = _timed(bare, f"bench:{r}", PER_ROUND)
            one_ledger = _timed(ledgered, f"bench:{r}", PER_ROUND)
        bare_s += one_bare
        ledger_s += one_ledger
        rounds.append(round(one_ledger / one_bare, 2))
    n = ROUNDS * PER_ROUND
    return {
        "spends": n,
        "baseline_bare_update_per_s": round(n / bare_s, 1),
        "ledgered_spend_per_s": round(n / ledger_s, 1),
        "ledger_cost_ratio": round(ledger_s / bare_s, 2),
        "ratio_per_round": rounds,
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
