"""Generation workers against a local fake Replicate: throughput and multi-process claims.

Prints one JSON object (progress goes to stderr). Two measurements, each with a baseline
measured in the same run, so the ratios hold whatever the machine:

1. Throughput, in process, on SQLite and on PostgreSQL (a fresh database each): N
   generations created up front, one `GenerationWorker` (concurrency C, polling) driving the
   `ReplicateEngine` against the in-thread fake with a fixed provider latency, timed until
   every generation is terminal. The ideal is N / C * latency; the baseline is the same N
   predictions driven straight through the official client at the same concurrency, no
   database (what the provider alone allows). A breakdown of where each job's time went
   (claim -> prediction created, provider latency, prediction done -> generation terminal,
   idle slots) comes from the database's timestamps and the fake's.
2. Multi-process claims on PostgreSQL: `stylestudio worker` processes against a fresh
   database holding M generations and a fake Replicate process; double claims (jobs attempted
   twice, predictions created twice) must be zero. Baseline: one worker process, same load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import replicate
from sqlalchemy.engine import Engine
from sqlmodel import col, func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stylestudio.adapters.generation_engine import GenerationRequest
from stylestudio.adapters.replicate_engine import ReplicateEngine
from stylestudio.adapters.replicate_models import model_for
from stylestudio.adapters.storage import LocalStorage
from stylestudio.db import create_db_engine, session_scope
from stylestudio.models import Generation, GenerationStatus, ImageCategory, Job
from stylestudio.services.accounts import accounts
from stylestudio.services.billing import credits, pricing
from stylestudio.services.generation import generations
from stylestudio.services.generation.generation_work import Options
from stylestudio.services.media import media
from stylestudio.worker import GenerationWorker
from tests.support.builders import product_shot
from tests.support.databases import empty_database, migrate, postgres_available
from tests.support.fake_replicate import FakeReplicateControl

ROOT = Path(__file__).resolve().parents[1]
REPLICATE_MODEL = "google/nano-banana"
QUALITY, ASPECT_RATIO, STYLE, PROMPT = "standard", "1:1", "realistic", "on a marble table"
TERMINAL = tuple(s.value for s in GenerationStatus if s.is_terminal)
PROVIDER_TERMINAL = frozenset({"succeeded", "failed", "canceled"})
MONITOR_EVERY_S = 0.05
BASELINE_POLL_S = 0.5  # the worker's Options().poll_first_s


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- workload


def _seed_generations(db: Engine, storage: LocalStorage, n: int, tag: str) -> list[int]:
    """One user with enough credits, one uploaded product image, `n` started generations."""
    cost = pricing.generation_cost(quality=QUALITY, aspect_ratio=ASPECT_RATIO)
    with session_scope(db) as session:
        user = accounts.sign_up(session, email=f"{tag}@bench.local", password="bench-password")
        assert user.id is not None
        user_id = user.id
        credits.grant(
            session, user_id=user_id, amount=n * cost, idempotency_key=f"bench:{tag}:grant"
        )
        image = media.store_upload(
            session,
            storage=storage,
            user_id=user_id,
            data=product_shot(),
            filename="shoe.jpg",
            category=ImageCategory.PRODUCT,
        )
        assert image.id is not None
        image_id = image.id
    ids: list[int] = []
    for first in range(0, n, 50):  # 50 per transaction: setup, not what is measured
        with session_scope(db) as session:
            for i in range(first, min(n, first + 50)):
                generation = generations.start_generation(
                    session,
                    user_id=user_id,
                    product_image_id=image_id,
                    model_image_id=None,
                    prompt=PROMPT,
                    style=STYLE,
                    quality=QUALITY,
                    aspect_ratio=ASPECT_RATIO,
                    idempotency_key=f"bench:{tag}:{i}",
                    engine_name="replicate",
                )
                assert generation.id is not None
                ids.append(generation.id)
    return ids


def _status_counts(db: Engine) -> dict[str, int]:
    with session_scope(db, write=False) as session:
        rows = session.exec(
            select(Generation.status, func.count()).group_by(col(Generation.status))
        ).all()
    return {GenerationStatus(status).value: int(count) for status, count in rows}


def _terminal(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in TERMINAL)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _breakdown(
    db: Engine, predictions: dict[str, dict[str, Any]], *, slots: int, wall_s: float
) -> dict[str, Any]:
    """Where each job's time went, from the generations' timestamps and the fake's."""
    with session_scope(db, write=False) as session:
        rows = session.exec(
            select(
                Generation.started_at, Generation.completed_at, Generation.provider_prediction_id
            )
        ).all()
    job_s, to_create, provider, to_terminal = [], [], [], []
    for started, completed, prediction_id in rows:
        if started is None or completed is None:
            continue
        started, completed = _aware(started), _aware(completed)
        job_s.append((completed - started).total_seconds())
        view = predictions.get(prediction_id or "")
        created = _iso(view.get("created_at")) if view else None
        done = _iso(view.get("completed_at")) if view else None
        if created is not None and done is not None:
            to_create.append((created - started).total_seconds())
            provider.append((done - created).total_seconds())
            to_terminal.append((completed - done).total_seconds())
    busy = sum(job_s)
    return {
        "mean_job_s": _mean(job_s),
        "max_job_s": round(max(job_s), 3) if job_s else None,
        "mean_claim_to_prediction_created_s": _mean(to_create),
        "mean_provider_s": _mean(provider),
        "mean_prediction_done_to_terminal_s": _mean(to_terminal),
        "slot_utilisation": round(busy / (slots * wall_s), 3) if wall_s > 0 else None,
    }


# --------------------------------------------------------------------------- 1. throughput


async def _provider_only(
    *, base_url: str, api_token: str, n: int, concurrency: int, product: bytes
) -> dict[str, Any]:
    """The same predictions straight through the official client: create, poll every 0.5 s,
    download the output (as the worker must), no database."""
    client = replicate.Client(api_token=api_token, base_url=base_url)
    request = GenerationRequest(
        product_image=product,
        model_image=None,
        prompt=PROMPT,
        style=STYLE,
        quality=QUALITY,
        aspect_ratio=ASPECT_RATIO,
        seed=1,
    )
    data_url = f"data:image/jpeg;base64,{base64.b64encode(product).decode()}"
    inputs = model_for(REPLICATE_MODEL).build_input(request, [data_url])
    gate = asyncio.Semaphore(concurrency)
    outcomes: dict[str, int] = defaultdict(int)

    async with httpx.AsyncClient(timeout=60) as downloads:

        async def one() -> None:
            async with gate:
                prediction = await client.models.predictions.async_create(
                    model=REPLICATE_MODEL, input=inputs
                )
                while prediction.status not in PROVIDER_TERMINAL:
                    await asyncio.sleep(BASELINE_POLL_S)
                    prediction = await client.predictions.async_get(prediction.id)
                if prediction.status == "succeeded":
                    output = prediction.output
                    url = output[0] if isinstance(output, list) else output
                    response = await downloads.get(str(url))
                    response.raise_for_status()
                outcomes[prediction.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(n)))
        wall = time.perf_counter() - started
    return {
        "wall_s": round(wall, 2),
        "succeeded": outcomes["succeeded"],
        "failed": n - outcomes["succeeded"],
        "per_s": round(n / wall, 2),
    }


async def _drive_worker(
    worker: GenerationWorker, db: Engine, n: int, budget_s: float
) -> tuple[float, dict[str, int], bool]:
    """Run the worker until `n` generations are terminal; (wall, status counts, finished)."""
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(worker.run(stop))
    finished = False
    counts: dict[str, int] = {}
    try:
        while time.perf_counter() - started < budget_s:
            counts = await asyncio.to_thread(_status_counts, db)
            if _terminal(counts) >= n:
                finished = True
                break
            if task.done():
                break
            await asyncio.sleep(MONITOR_EVERY_S)
        wall = time.perf_counter() - started
    finally:
        stop.set()
        await task
    return wall, counts, finished


class _RemoteFake:
    """The out-of-process fake, seen through the same few names as the in-thread one."""

    def __init__(self, control: FakeReplicateControl) -> None:
        self.control = control
        self.base_url = control.base_url
        self.api_token = str(control.config["api_token"])

    def reset(self) -> None:
        self.control.reset()

    def stats(self) -> dict[str, Any]:
        return dict(self.control.stats())

    @property
    def creates(self) -> int:
        return int(self.stats()["creates"])

    @property
    def predictions(self) -> Any:
        return self.control.predictions


def _throughput_on(
    kind: str, tmp: Path, fake: _RemoteFake, *, n: int, concurrency: int, budget_s: float
) -> dict[str, Any]:
    fake.reset()
    with empty_database(kind, tmp) as url:
        migrate(url)
        db = create_db_engine(url)
        try:
            storage = LocalStorage(tmp / f"media-{kind}")
            _seed_generations(db, storage, n, f"throughput-{kind}")
            engine = ReplicateEngine(
                api_token=fake.api_token, base_url=fake.base_url, model=REPLICATE_MODEL
            )
            worker = GenerationWorker(
                db=db,
                storage=storage,
                engine=engine,
                concurrency=concurrency,
                options=Options(),
                chores=None,
            )
            _say(f"throughput on {kind}: {n} generations, worker concurrency {concurrency}")
            wall, counts, finished = asyncio.run(_drive_worker(worker, db, n, budget_s))
            stats = fake.stats()
            breakdown = _breakdown(db, fake.predictions, slots=concurrency, wall_s=wall)
        finally:
            db.dispose()
    return {
        "wall_s": round(wall, 2),
        "finished": finished,
        "completed": counts.get(GenerationStatus.COMPLETED.value, 0),
        "failed": counts.get(GenerationStatus.FAILED.value, 0),
        "cancelled": counts.get(GenerationStatus.CANCELLED.value, 0),
        "fake_creates": stats["creates"],
        "fake_gets": stats["gets"],
        "per_s": round(n / wall, 2),
        "breakdown": breakdown,
    }


def throughput(
    tmp: Path, kinds: list[str], *, n: int, latency: float, concurrency: int, budget_s: float
) -> dict[str, Any]:
    ideal = n / concurrency * latency
    result: dict[str, Any] = {
        "generations": n,
        "provider_latency_s": latency,
        "concurrency": concurrency,
        "poll_first_s": Options().poll_first_s,
        "ideal_s": round(ideal, 2),
        # All jobs start together and take the same time, so they run in waves: no worker
        # can beat ceil(n / concurrency) waves of one latency each.
        "wave_floor_s": round(math.ceil(n / concurrency) * latency, 2),
        "target_ratio": 1.2,
    }
    # The provider runs in a process of its own, as Replicate does: an in-thread fake would
    # share this process's GIL with the worker it measures.
    with _fake_process(tmp, latency) as control:
        fake = _RemoteFake(control)
        _say(f"baseline: {n} predictions through the official client, no database")
        baseline = asyncio.run(
            _provider_only(
                base_url=fake.base_url,
                api_token=fake.api_token,
                n=n,
                concurrency=concurrency,
                product=product_shot(),
            )
        )
        baseline["ratio"] = round(baseline["wall_s"] / ideal, 3)
        baseline["fake_creates"] = fake.creates
        result["baseline_provider_only"] = baseline
        for kind in kinds:
            measured = _throughput_on(
                kind, tmp, fake, n=n, concurrency=concurrency, budget_s=budget_s
            )
            measured["ratio"] = round(measured["wall_s"] / ideal, 3)
            measured["ratio_vs_wave_floor"] = round(measured["wall_s"] / result["wave_floor_s"], 3)
            measured["vs_baseline"] = round(measured["wall_s"] / baseline["wall_s"], 3)
            measured["meets_target"] = measured["ratio"] <= result["target_ratio"]
            result[kind] = measured
    return result


# --------------------------------------------------------------------------- 2. processes


@contextlib.contextmanager
def _fake_process(tmp: Path, latency: float) -> Iterator[FakeReplicateControl]:
    """`python -m tests.support.fake_replicate` on a free port, stopped afterwards."""
    log = (tmp / "fake-replicate.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_replicate",
            "--port",
            "0",
            "--latency",
            f"{latency}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    timer = threading.Timer(30, proc.kill)  # never wait forever for "ready"
    timer.start()
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        timer.cancel()
        if not line.startswith("ready "):
            raise RuntimeError(f"fake Replicate did not start: {line!r}")
        with FakeReplicateControl(line.removeprefix("ready ")) as control:
            yield control
    finally:
        timer.cancel()
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[Any], grace_s: float = 10) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=5)


def _worker_command() -> list[str]:
    script = Path(sys.executable).parent / "stylestudio"
    if script.exists():
        return [str(script), "worker"]
    return [sys.executable, "-m", "stylestudio.cli", "worker"]


def _leases(db: Engine) -> list[tuple[int, str]]:
    with session_scope(db, write=False) as session:
        rows = session.exec(
            select(Job.id, Job.lease_owner).where(col(Job.lease_owner).is_not(None))
        ).all()
    return [(int(job_id), str(owner)) for job_id, owner in rows if job_id is not None]


def _processes_run(
    tmp: Path,
    control: FakeReplicateControl,
    *,
    workers: int,
    n: int,
    concurrency: int,
    budget_s: float,
) -> dict[str, Any]:
    control.reset()
    data_dir = tmp / f"data-{workers}w"
    storage = LocalStorage(data_dir / "media")
    with empty_database("postgresql", tmp) as url:
        migrate(url)
        db = create_db_engine(url)
        procs: list[subprocess.Popen[Any]] = []
        logs: list[Any] = []
        try:
            _seed_generations(db, storage, n, f"procs-{workers}")
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "STYLESTUDIO_GENERATION_ENGINE": "replicate",
                "REPLICATE_API_TOKEN": str(control.config["api_token"]),
                "REPLICATE_BASE_URL": control.base_url,
                "REPLICATE_MODEL": REPLICATE_MODEL,
                "STYLESTUDIO_WORKER_CONCURRENCY": str(concurrency),
                "STYLESTUDIO_DATA_DIR": str(data_dir),
                "STYLESTUDIO_SECRET_KEY": "bench-secret-key-not-for-production",
                "STYLESTUDIO_PAYMENTS": "test",
                "STYLESTUDIO_WEBHOOK_BASE_URL": "",  # completions by polling only
            }
            _say(f"{workers} worker process(es) x concurrency {concurrency}: {n} generations")
            launched_wall = datetime.now(UTC)
            started = time.perf_counter()
            for i in range(workers):
                log = (tmp / f"worker-{workers}w-{i}.log").open("w")
                logs.append(log)
                procs.append(
                    subprocess.Popen(
                        _worker_command(),
                        env=env,
                        cwd=data_dir,  # no stray .env
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            owner_by_pid = {str(p.pid): i for i, p in enumerate(procs)}
            seen: dict[int, set[str]] = defaultdict(set)
            finished = False
            counts: dict[str, int] = {}
            while time.perf_counter() - started < budget_s:
                for job_id, owner in _leases(db):
                    seen[job_id].add(owner)
                counts = _status_counts(db)
                if _terminal(counts) >= n:
                    finished = True
                    break
                if all(p.poll() is not None for p in procs):
                    break
                time.sleep(MONITOR_EVERY_S)
            wall = time.perf_counter() - started
        finally:
            for proc in procs:
                _stop(proc)
            for log in logs:
                log.close()
        try:
            stats = control.stats()
            with session_scope(db, write=False) as session:
                claims = int(session.exec(select(func.coalesce(func.sum(Job.attempts), 0))).one())
                retried = int(
                    session.exec(
                        select(func.count()).select_from(Job).where(col(Job.attempts) > 1)
                    ).one()
                )
                first_claim, last_end = session.exec(
                    select(func.min(Generation.started_at), func.max(Generation.completed_at))
                ).one()
            breakdown = _breakdown(
                db, control.predictions, slots=workers * concurrency, wall_s=wall
            )
        finally:
            db.dispose()
    per_worker = [0] * workers
    for owners in seen.values():
        for owner in owners:
            parts = owner.split(":")
            index = owner_by_pid.get(parts[-2] if len(parts) >= 3 else "")
            if index is not None:
                per_worker[index] += 1
    active_s = (
        (_aware(last_end) - _aware(first_claim)).total_seconds()
        if first_claim is not None and last_end is not None
        else None
    )
    startup_s = (
        (_aware(first_claim) - launched_wall).total_seconds() if first_claim is not None else None
    )
    duplicates = int(stats["creates"]) - n
    return {
        "workers": workers,
        "concurrency_each": concurrency,
        "wall_s": round(wall, 2),
        "finished": finished,
        "startup_to_first_claim_s": round(startup_s, 2) if startup_s is not None else None,
        "first_claim_to_last_end_s": round(active_s, 2) if active_s is not None else None,
        "claims": claims,
        "claims_per_s": round(claims / wall, 1),
        "claims_per_s_after_startup": round(claims / active_s, 1) if active_s else None,
        "completed": counts.get(GenerationStatus.COMPLETED.value, 0),
        "failed": counts.get(GenerationStatus.FAILED.value, 0),
        "cancelled": counts.get(GenerationStatus.CANCELLED.value, 0),
        "fake_creates": stats["creates"],
        "jobs_attempted_more_than_once": retried,
        "duplicate_predictions": duplicates,
        "double_claims": retried + max(duplicates, 0),
        "jobs_seen_with_two_owners": sum(1 for owners in seen.values() if len(owners) > 1),
        "jobs_seen_per_worker": per_worker,  # sampled every 50 ms while leased: a lower bound
        "breakdown": breakdown,
    }


def processes(
    tmp: Path, *, n: int, latency: float, workers: int, concurrency: int, budget_s: float
) -> dict[str, Any]:
    with _fake_process(tmp, latency) as control:
        many = _processes_run(
            tmp, control, workers=workers, n=n, concurrency=concurrency, budget_s=budget_s
        )
        one = _processes_run(
            tmp, control, workers=1, n=n, concurrency=concurrency, budget_s=budget_s
        )
    return {
        "database": "postgresql",
        "generations": n,
        "provider_latency_s": latency,
        "poll_first_s": Options().poll_first_s,
        f"workers_{workers}": many,
        "baseline_workers_1": one,
        "speedup_wall": round(one["wall_s"] / many["wall_s"], 2),
        "speedup_after_startup": (
            round(one["first_claim_to_last_end_s"] / many["first_claim_to_last_end_s"], 2)
            if one["first_claim_to_last_end_s"] and many["first_claim_to_last_end_s"]
            else None
        ),
    }


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--generations", type=int, default=200)
    parser.add_argument("--latency", type=float, default=2.0, help="fake provider seconds")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--process-generations", type=int, default=400)
    parser.add_argument("--process-latency", type=float, default=0.2)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--skip-processes", action="store_true", help="throughput only")
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per run, at most")
    args = parser.parse_args()

    have_postgres = not args.sqlite_only and postgres_available()
    kinds = ["sqlite"] + (["postgresql"] if have_postgres else [])
    results: dict[str, Any] = {"benchmark": "replicate_workers", "cpus": os.cpu_count()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results["throughput"] = throughput(
            tmp,
            kinds,
            n=args.generations,
            latency=args.latency,
            concurrency=args.concurrency,
            budget_s=args.budget,
        )
        if args.skip_processes:
            results["processes"] = "skipped"
        elif have_postgres:
            results["processes"] = processes(
                tmp,
                n=args.process_generations,
                latency=args.process_latency,
                workers=args.processes,
                concurrency=args.concurrency,
                budget_s=args.budget,
            )
        else:
            results["processes"] = "skipped: PostgreSQL not reachable"
    results["bench_total_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
