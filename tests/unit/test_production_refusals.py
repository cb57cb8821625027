"""`stylestudio serve --prod` refuses what would break, each time saying what to set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stylestudio import cli
from stylestudio.production import Plan, child_environment, refusals
from stylestudio.settings import DEVELOPMENT_SECRET_KEY, Settings, get_settings

GOOD_KEY = "k" * 48
POSTGRES = "postgresql://stylestudio@127.0.0.1:5432/stylestudio"
TWO_AND_TWO = Plan(web_processes=2, worker_processes=2, host="127.0.0.1", port=8000)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "production",
        "secret_key": GOOD_KEY,
        "database_url": POSTGRES,
        "redis_url": "redis://127.0.0.1:6379/0",
        "public_url": "https://studio.example.com",
        "api_url": "https://studio.example.com",
        **overrides,
    }
    return Settings(_env_file=None, **values)


def test_a_production_configuration_starts() -> None:
    assert refusals(settings(), TWO_AND_TWO) == []
    # A staging run (offline test checkout) is the same processes.
    assert refusals(settings(environment="test"), TWO_AND_TWO) == []


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (DEVELOPMENT_SECRET_KEY, "STYLESTUDIO_SECRET_KEY is the development default: set it"),
        ("", "STYLESTUDIO_SECRET_KEY is empty: set it"),
        ("   ", "STYLESTUDIO_SECRET_KEY is empty: set it"),
        ("short-key", "STYLESTUDIO_SECRET_KEY has 9 characters: set one of at least 32"),
    ],
)
def test_refuses_a_development_missing_or_short_secret_key(key: str, says: str) -> None:
    # environment=test: production itself refuses these keys already (see below).
    problems = refusals(settings(environment="test", secret_key=key), TWO_AND_TWO)
    assert len(problems) == 1
    assert problems[0].startswith(says)
    assert "secrets.token_urlsafe(48)" in problems[0]


def test_refuses_several_backend_processes_without_redis() -> None:
    problems = refusals(settings(redis_url=""), TWO_AND_TWO)
    assert problems == [
        "REDIS_URL is not set, but 2 backend processes were asked for: set REDIS_URL (e.g. "
        "redis://127.0.0.1:6379/0) so that they share the tabs' state, or "
        "STYLESTUDIO_WEB_PROCESSES=1"
    ]
    one_backend = Plan(web_processes=1, worker_processes=2, host="127.0.0.1", port=8000)
    assert refusals(settings(redis_url=""), one_backend) == []


@pytest.mark.parametrize(("web", "workers"), [(2, 0), (1, 1), (1, 2)])
def test_refuses_sqlite_with_more_than_one_process(web: int, workers: int) -> None:
    plan = Plan(web_processes=web, worker_processes=workers, host="127.0.0.1", port=8000)
    problems = refusals(settings(database_url=""), plan)
    assert problems == [
        f"the database is SQLite, but {web} backend and {workers} worker processes were asked "
        "for: set DATABASE_URL (e.g. postgresql://user:password@127.0.0.1:5432/stylestudio), "
        "or run one process with STYLESTUDIO_WEB_PROCESSES=1 and "
        "STYLESTUDIO_WORKER_PROCESSES=0 (the generation worker then runs inside it)"
    ]


def test_sqlite_runs_as_one_process_that_runs_the_jobs_itself() -> None:
    plan = Plan(web_processes=1, worker_processes=0, host="127.0.0.1", port=8000)
    assert refusals(settings(database_url="", redis_url=""), plan) == []
    assert plan.in_process_worker
    assert "STYLESTUDIO_IN_PROCESS_WORKER" not in child_environment(plan, {})


def test_web_processes_never_run_the_worker_when_there_are_several_or_workers_beside() -> None:
    for web, workers in [(2, 2), (2, 0), (1, 1)]:
        plan = Plan(web_processes=web, worker_processes=workers, host="127.0.0.1", port=8000)
        env = child_environment(plan, {"STYLESTUDIO_IN_PROCESS_WORKER": "true"})
        assert env["STYLESTUDIO_IN_PROCESS_WORKER"] == "false"
        assert env["GRANIAN_WORKERS"] == str(web)


def test_the_state_lease_turns_on_reflexs_opportunistic_lock_unless_the_operator_chose() -> None:
    plan = TWO_AND_TWO
    env = child_environment(plan, {}, state_lease_ms=5000)
    assert env["REFLEX_OPLOCK_ENABLED"] == "true"
    assert env["REFLEX_OPLOCK_HOLD_TIME_MS"] == "5000"
    assert "REFLEX_OPLOCK_ENABLED" not in child_environment(plan, {}, state_lease_ms=0)
    chosen = child_environment(plan, {"REFLEX_OPLOCK_ENABLED": "false"}, state_lease_ms=5000)
    assert chosen["REFLEX_OPLOCK_ENABLED"] == "false"


def test_refuses_the_development_environment() -> None:
    problems = refusals(settings(environment="development"), TWO_AND_TWO)
    assert problems == [
        "STYLESTUDIO_ENV is development: set STYLESTUDIO_ENV=production (or test, for a "
        "staging run that allows the offline test checkout)"
    ]


def test_refuses_two_addresses() -> None:
    problems = refusals(settings(api_url="https://api.example.com"), TWO_AND_TWO)
    assert len(problems) == 1
    assert problems[0].startswith(
        "STYLESTUDIO_PUBLIC_URL (https://studio.example.com) and STYLESTUDIO_API_URL "
        "(https://api.example.com) differ"
    )
    assert "set both to the address browsers use" in problems[0]


def test_every_problem_is_listed_at_once() -> None:
    bad = settings(
        environment="test",
        secret_key=DEVELOPMENT_SECRET_KEY,
        database_url="",
        redis_url="",
        api_url="http://localhost:8000",
    )
    assert len(refusals(bad, TWO_AND_TWO)) == 4


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for name in ("STYLESTUDIO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "STYLESTUDIO_PAYMENTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_the_command_prints_each_refusal_and_neither_migrates_nor_starts(
    environment: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("STYLESTUDIO_ENV", "test")
    assert cli.main(["serve", "--prod", "--web-processes", "2", "--workers", "2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":", 2)[1].strip() for line in err] == [
        "STYLESTUDIO_SECRET_KEY is the development default",
        "REDIS_URL is not set, but 2 backend processes were asked for",
        "the database is SQLite, but 2 backend and 2 worker processes were asked for",
        "STYLESTUDIO_PUBLIC_URL (http",
    ]
    assert all(line.startswith("refused: ") for line in err)
    assert not (tmp_path / "data").exists()  # not migrated


def test_production_with_the_development_key_is_refused_by_the_settings(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environment.setenv("STYLESTUDIO_ENV", "production")
    assert cli.main(["serve", "--prod"]) == 2
    assert capsys.readouterr().err == (
        "refused: STYLESTUDIO_SECRET_KEY is still the development default; "
        "set a long random value before running in production\n"
    )


def test_serve_needs_prod(
    environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve"]) == 2
    assert "pass --prod (development: make run)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("hops", "peer", "forwarded", "address"),
    [
        (0, "10.0.0.9", "203.0.113.7", "10.0.0.9"),  # the header is anyone's to write
        (1, "10.0.0.9", "203.0.113.7", "203.0.113.7"),
        (1, "10.0.0.9", "1.2.3.4, 203.0.113.7", "203.0.113.7"),  # a forged first entry
        (2, "10.0.0.9", "1.2.3.4, 203.0.113.7", "1.2.3.4"),
        (2, "10.0.0.9", "203.0.113.7", "10.0.0.9"),  # fewer hops than configured
        (1, "10.0.0.9", None, "10.0.0.9"),
    ],
)
def test_the_visitors_address_behind_trusted_proxies(
    hops: int, peer: str, forwarded: str | None, address: str
) -> None:
    assert settings(trusted_proxy_hops=hops).client_address(peer, forwarded) == address


def test_a_start_empties_the_metrics_folder_of_the_last_run(tmp_path: Path) -> None:
    from stylestudio.production import empty_metrics_folder

    folder = tmp_path / "prometheus"
    assert empty_metrics_folder({}) is None
    assert empty_metrics_folder({"PROMETHEUS_MULTIPROC_DIR": str(folder)}) == folder
    assert folder.is_dir()  # created when missing
    (folder / "counter_123.db").write_bytes(b"old run")
    (folder / "README").write_text("not ours")
    empty_metrics_folder({"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    assert sorted(p.name for p in folder.iterdir()) == ["README"]


def test_a_dying_worker_waits_longer_each_time_up_to_the_ceiling() -> None:
    from stylestudio.production import RestartPolicy

    policy = RestartPolicy(first_delay_s=1.0, max_delay_s=15.0)
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 15.0, 15.0]
