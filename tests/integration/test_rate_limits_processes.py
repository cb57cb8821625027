"""The sign-in limit holds across two processes sharing Redis, as two backend processes do:
each process guesses 15 wrong passwords for the same account at once; together they get 10
answers and 20 refusals, whatever the interleaving."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
REDIS = "redis://127.0.0.1:6379/14"

GUESSER = """
import json, sys
from stylestudio.services.errors import InvalidCredentialsError, RateLimitedError
from stylestudio.services.rate_limits import RateLimiter, Rule

prefix, email = sys.argv[1], sys.argv[2]
limiter = RateLimiter(sys.argv[3], rates={Rule.SIGN_IN_ACCOUNT: "10/1 minute"}, key_prefix=prefix)
answers = {"wrong": 0, "limited": 0, "messages": []}
for _ in range(15):
    try:
        with limiter.sign_in_attempt(email=email, ip_address=None):
            raise InvalidCredentialsError()
    except InvalidCredentialsError:
        answers["wrong"] += 1
    except RateLimitedError as exc:
        answers["limited"] += 1
        answers["messages"].append(exc.message)
print(json.dumps(answers))
"""


@pytest.fixture
def key_prefix() -> Iterator[str]:
    prefix = f"test-processes-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_two_processes_share_one_sign_in_limit(key_prefix: str) -> None:
    try:
        redis.Redis.from_url(REDIS).ping()
    except redis.ConnectionError:
        pytest.fail("Redis is required for this test")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", GUESSER, key_prefix, "victim@example.com", REDIS],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(r["wrong"] for r in results) == 10
    assert sum(r["limited"] for r in results) == 20
    message = next(m for r in results for m in r["messages"])
    assert message.startswith("Too many sign-in attempts. Try again in ")
