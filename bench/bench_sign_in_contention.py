"""Sign-in bursts against credit spends on SQLite (issue 5, acceptance 4).

Prints JSON: the latency of one credit spend (p50/p99/max) measured alone, beside 20
concurrent sign-ins as the product does them now (argon2 outside any transaction), and
beside 20 concurrent sign-ins done the old way (argon2 inside the write transaction) — all
in the same run on the same database, so the comparison holds whatever the machine.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.db import create_db_engine, session_scope
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import credits
from tests.support.databases import migrate

SIGN_INS = 20
SPENDS = 40  # per burst, back to back while the burst's sign-ins run
BURSTS = 8
# SQLite's busy timeout for this run: the product waits 60 s; the old way can starve a
# spend for longer than that, so the bench says how often it gives up instead of hanging.
BUSY_TIMEOUT_S = 5
PHASE_BUDGET_S = 40
PASSWORD = "bench-password-1"


def _users(engine: Engine) -> tuple[int, list[str]]:
    emails = [f"user{i}@bench.local" for i in range(SIGN_INS)]
    with session_scope(engine) as session:
        for email in emails:
            accounts.sign_up(session, email=email, password=PASSWORD)
        spender = accounts.sign_up(session, email="spender@bench.local", password=PASSWORD)
        assert spender.id is not None
        session.execute(
            sa.text("UPDATE users SET credits = 1000000 WHERE id = :u"), {"u": spender.id}
        )
    return spender.id, emails


def _sign_in_now(engine: Engine, email: str) -> None:
    accounts.sign_in(db=engine, email=email, password=PASSWORD, request=accounts.SessionRequest())


def _sign_in_old_way(engine: Engine, email: str) -> None:
    """What sign-in did before: verify and hash inside one write transaction."""
    with session_scope(engine) as session:
        user = accounts.authenticate(session, email=email, password=PASSWORD)
        assert user.id is not None
        accounts.start_session(session, user_id=user.id)


def _spend_latencies(engine: Engine, spender: int, tag: str) -> tuple[list[float], int]:
    """Latencies of successful spends, and how many failed (SQLite gave up waiting)."""
    latencies, failures = [], 0
    deadline = time.monotonic() + PHASE_BUDGET_S
    for i in range(SPENDS):
        if time.monotonic() > deadline:
            break
        started = time.perf_counter()
        try:
            with session_scope(engine) as session:
                credits.spend(session, user_id=spender, amount=1, idempotency_key=f"{tag}:{i}")
        except OperationalError:
            failures += 1
            continue
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(0.002)
    return latencies, failures


def _beside(
    engine: Engine, spender: int, emails: list[str], tag: str, sign_in: Callable | None
) -> dict[str, float]:
    """Spend latencies while bursts of 20 sign-ins (one per account, all at once) run."""
    count, errors = [0], [0]
    latencies: list[float] = []
    failures = 0

    def one_sign_in(email: str, go: threading.Event) -> None:
        assert sign_in is not None
        go.wait()
        try:
            sign_in(engine, email)
            count[0] += 1
        except OperationalError:
            errors[0] += 1

    for burst in range(BURSTS):
        go = threading.Event()
        threads = [
            threading.Thread(target=one_sign_in, args=(e, go), daemon=True)
            for e in (emails if sign_in else [])
        ]
        for t in threads:
            t.start()
        go.set()
        found, failed = _spend_latencies(engine, spender, f"{tag}:{burst}")
        latencies += found
        failures += failed
        for t in threads:
            t.join()
    lat = sorted(latencies) or [float("nan")]
    return {
        "spend_p50_ms": round(statistics.median(lat), 2),
        "spend_p99_ms": round(lat[max(0, int(len(lat) * 0.99) - 1)], 2),
        "spend_max_ms": round(lat[-1], 2),
        "spends_done": len(latencies),
        "spend_failures": failures,
        "sign_ins_done": count[0],
        "sign_in_failures": errors[0],
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        engine = create_db_engine(url)
        engine.pool.dispose()

        @sa.event.listens_for(engine, "connect")
        def _shorter_busy_timeout(dbapi_connection: object, _record: object) -> None:
            cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            cursor.close()

        spender, emails = _users(engine)
        alone = _beside(engine, spender, emails, "alone", None)
        now = _beside(engine, spender, emails, "now", _sign_in_now)
        old = _beside(engine, spender, emails, "old", _sign_in_old_way)
        engine.dispose()
        result = {
            "database": "sqlite",
            "concurrent_sign_ins": SIGN_INS,
            "spends": SPENDS,
            "alone": alone,
            "beside_sign_ins": now,
            "beside_old_sign_ins": old,
            "added_p99_ms": round(now["spend_p99_ms"] - alone["spend_p99_ms"], 2),
            "added_p99_ms_old_way": round(old["spend_p99_ms"] - alone["spend_p99_ms"], 2),
        }
    print(json.dumps({"bench": "sign_in_contention", **result}, indent=2))


if __name__ == "__main__":
    main()
