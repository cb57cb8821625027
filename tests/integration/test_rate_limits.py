"""Rate limits in memory and in Redis (the local server, database 14), around the real
sign-in (accounts.sign_in on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping

import pydantic
import pytest
import redis
from sqlalchemy.engine import Engine

from stylestudio.services.accounts import accounts
from stylestudio.services.errors import InvalidCredentialsError, RateLimitedError
from stylestudio.services.rate_limits import RateLimiter, Rule, describe_wait
from stylestudio.settings import Settings
from tests.support.builders import new_user
from tests.support.smtp_server import free_port

REDIS_URL = os.environ.get("STYLESTUDIO_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
PASSWORD = "correct horse battery"
EMAIL = "ada@example.com"
ADDRESS = "203.0.113.7"
SIGN_IN_LIMITED = re.compile(r"Too many sign-in attempts\. Try again in \d+ (second|minute)s?\.")

MakeLimiter = Callable[..., RateLimiter]


def _require_redis() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Redis is required under CI=true but {REDIS_URL} is not reachable")
        pytest.skip(f"Redis not reachable at {REDIS_URL}")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    _require_redis()
    prefix = f"stylestudio-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> MakeLimiter:
    """Limiters on one storage: each call is another process's limiter for Redis."""
    if request.param == "memory":
        shared = RateLimiter("memory://")

        def memory(rates: Mapping[Rule, str] | None = None) -> RateLimiter:
            return RateLimiter("memory://", rates=rates) if rates else shared

        return memory
    prefix = request.getfixturevalue("redis_prefix")

    def on_redis(rates: Mapping[Rule, str] | None = None) -> RateLimiter:
        return RateLimiter(REDIS_URL, rates=rates, key_prefix=prefix)

    return on_redis


def _attempt(
    limiter: RateLimiter, db: Engine, password: str, *, email: str = EMAIL, ip: str = ADDRESS
) -> str:
    """One sign-in as the state handler will wire it: "ok", "wrong" or "limited"."""
    try:
        with limiter.sign_in_attempt(email=email, ip_address=ip):
            accounts.sign_in(
                db=db,
                email=email,
                password=password,
                request=accounts.SessionRequest(ip_address=ip),
            )
    except InvalidCredentialsError:
        return "wrong"
    except RateLimitedError as limited:
        assert SIGN_IN_LIMITED.fullmatch(limited.message), limited.message
        assert limited.retry_after_s >= 1
        return "limited"
    return "ok"


def test_the_eleventh_wrong_password_for_an_account_is_limited(
    db: Engine, make_limiter: MakeLimiter
) -> None:
    new_user(db, EMAIL, password=PASSWORD)
    limiter = make_limiter()
    outcomes = [_attempt(limiter, db, "not the password") for _ in range(30)]
    assert outcomes == ["wrong"] * 10 + ["limited"] * 20
    assert _attempt(limiter, db, PASSWORD) == "limited"  # even the right password, for now
    # Another account from the same address is not locked by Ada's attempts.
    new_user(db, "bob@example.com", password=PASSWORD)
    assert _attempt(limiter, db, PASSWORD, email="bob@example.com") == "ok"


def test_the_account_limit_is_by_address_not_by_spelling(
    db: Engine, make_limiter: MakeLimiter
) -> None:
    new_user(db, EMAIL, password=PASSWORD)
    limiter = make_limiter()
    spellings = ["ada@example.com", "ADA@example.com", " Ada@Example.COM "]
    outcomes = [_attempt(limiter, db, "nope nope", email=spellings[i % 3]) for i in range(11)]
    assert outcomes == ["wrong"] * 10 + ["limited"]


def test_two_processes_on_one_redis_share_the_count(db: Engine, redis_prefix: str) -> None:
    new_user(db, EMAIL, password=PASSWORD)
    first = RateLimiter(REDIS_URL, key_prefix=redis_prefix)
    second = RateLimiter(REDIS_URL, key_prefix=redis_prefix)
    outcomes = [_attempt((first, second)[i % 2], db, "not the password") for i in range(12)]
    assert outcomes == ["wrong"] * 10 + ["limited"] * 2
    assert _attempt(first, db, PASSWORD) == "limited"
    assert _attempt(second, db, PASSWORD) == "limited"


def test_after_the_advertised_wait_the_right_password_works(
    db: Engine, make_limiter: MakeLimiter
) -> None:
    new_user(db, EMAIL, password=PASSWORD)
    # A window long enough that three password checks (argon2, slow on a loaded machine)
    # fit in it; the wait it advertises is then honoured to the second.
    limiter = make_limiter({Rule.SIGN_IN_ACCOUNT: "3/6 seconds"})
    assert [_attempt(limiter, db, "not the password") for _ in range(3)] == ["wrong"] * 3
    with pytest.raises(RateLimitedError) as limited:
        limiter.check(Rule.SIGN_IN_ACCOUNT, EMAIL)
    assert 1 <= limited.value.retry_after_s <= 6
    assert limited.value.message == (
        f"Too many sign-in attempts. Try again in {describe_wait(limited.value.retry_after_s)}."
    )
    time.sleep(limited.value.retry_after_s)
    assert _attempt(limiter, db, PASSWORD) == "ok"


def test_a_successful_sign_in_clears_the_accounts_failures(
    db: Engine, make_limiter: MakeLimiter
) -> None:
    new_user(db, EMAIL, password=PASSWORD)
    limiter = make_limiter({Rule.SIGN_IN_ACCOUNT: "3/15 minutes"})
    assert [_attempt(limiter, db, "typo typo") for _ in range(2)] == ["wrong"] * 2
    assert _attempt(limiter, db, PASSWORD) == "ok"
    outcomes = [_attempt(limiter, db, "typo typo") for _ in range(4)]
    assert outcomes == ["wrong"] * 3 + ["limited"]


def test_failures_from_one_address_are_limited_across_accounts(
    db: Engine, make_limiter: MakeLimiter
) -> None:
    emails = [f"user{i}@example.com" for i in range(6)]
    for email in emails:
        new_user(db, email, password=PASSWORD)
    limiter = make_limiter({Rule.SIGN_IN_ADDRESS: "5/15 minutes"})
    outcomes = [_attempt(limiter, db, "guess guess", email=e) for e in emails]
    assert outcomes == ["wrong"] * 5 + ["limited"]
    # The right password from there is refused too, and signing in elsewhere is not.
    assert _attempt(limiter, db, PASSWORD, email=emails[0]) == "limited"
    assert _attempt(limiter, db, PASSWORD, email=emails[0], ip="198.51.100.2") == "ok"


def test_sign_ups_resets_and_generations_have_their_own_limits(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter()
    for _ in range(10):
        limiter.sign_up(ip_address=ADDRESS)
    with pytest.raises(RateLimitedError, match=r"^Too many sign-ups from your network\. Try"):
        limiter.sign_up(ip_address=ADDRESS)
    limiter.sign_up(ip_address="198.51.100.2")

    for spelling in ["ada@example.com", "ADA@example.com"] * 2 + ["ada@example.com"]:
        limiter.password_reset_request(email=spelling, ip_address=ADDRESS)
    with pytest.raises(RateLimitedError, match=r"^Too many password reset requests\. Try"):
        limiter.password_reset_request(email="ada@example.com", ip_address="198.51.100.3")
    limiter.password_reset_request(email="nobody@example.com", ip_address=ADDRESS)

    for _ in range(6):
        limiter.generation_start(user_id=1, generations=5)  # six batches of five styles
    with pytest.raises(RateLimitedError) as limited:
        limiter.generation_start(user_id=1)
    assert re.fullmatch(
        r"You are starting generations too quickly\. Try again in (\d+ seconds?|1 minute)\.",
        limited.value.message,
    )
    limiter.generation_start(user_id=2, generations=5)


def test_the_limits_come_from_the_settings(redis_prefix: str) -> None:
    settings = Settings(
        _env_file=None,
        REDIS_URL=REDIS_URL,
        STYLESTUDIO_LIMIT_GENERATION_USER="2 per minute",
    )
    web = RateLimiter.from_settings(settings, key_prefix=redis_prefix)
    worker = RateLimiter.from_settings(settings, key_prefix=redis_prefix)
    web.generation_start(user_id=7)
    worker.generation_start(user_id=7)
    with pytest.raises(RateLimitedError):
        web.generation_start(user_id=7)

    off = RateLimiter.from_settings(Settings(_env_file=None, STYLESTUDIO_RATE_LIMITS_ENABLED=False))
    for _ in range(100):
        off.generation_start(user_id=7)


def test_a_malformed_limit_is_refused_at_startup() -> None:
    with pytest.raises(pydantic.ValidationError, match="ten a minute"):
        Settings(_env_file=None, STYLESTUDIO_LIMIT_SIGN_IN_ACCOUNT="ten a minute")


def test_redis_down_lets_requests_through_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    limiter = RateLimiter(
        f"redis://127.0.0.1:{free_port()}/0", rates={Rule.SIGN_UP_ADDRESS: "1/hour"}
    )
    for _ in range(3):
        limiter.sign_up(ip_address=ADDRESS)
    assert "Rate limit storage failed; sign_up_address not enforced" in caplog.text


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"),
        (42, "42 seconds"),
        (60, "1 minute"),
        (61, "2 minutes"),
        (900, "15 minutes"),
        (3600, "60 minutes"),
        (7200, "2 hours"),
        (7201, "3 hours"),
    ],
)
def test_waits_read_naturally_and_round_up(seconds: int, words: str) -> None:
    assert describe_wait(seconds) == words
