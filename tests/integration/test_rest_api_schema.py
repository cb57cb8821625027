"""The REST API against its own OpenAPI document, fuzzed by schemathesis with a valid key
(every scope, credits, an upload and a generation of its own): no server errors, and every
answer (status, content type, headers, body) as the document says."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.result import Ok
from schemathesis.generation.case import Case
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.engine import Engine

from stylestudio import runtime
from stylestudio.api.routes import build_api
from stylestudio.db import dispose_engines, session_scope
from stylestudio.models import ImageCategory
from stylestudio.services.accounts import api_keys
from stylestudio.services.rate_limits import get_limiter
from stylestudio.settings import get_settings
from tests.support.builders import grant_credits, new_user, uploaded_image
from tests.support.server_thread import ServerThread

_KEY: dict[str, str] = {}


@pytest.fixture
def api_schema(
    db: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OpenApiSchema]:
    monkeypatch.setenv("DATABASE_URL", db.url.render_as_string(hide_password=False))
    monkeypatch.setenv("STYLESTUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STYLESTUDIO_RATE_LIMITS_ENABLED", "false")
    get_settings.cache_clear()
    get_limiter.cache_clear()
    runtime.reset()
    user_id = new_user(db)
    grant_credits(db, user_id, 1000, key="fuzz")
    for category in (ImageCategory.PRODUCT, ImageCategory.MODEL):
        uploaded_image(db, runtime.get_storage(), user_id, category=category)
    with session_scope(db) as session:
        _KEY["secret"] = api_keys.create_api_key(
            session, user_id=user_id, name="fuzz", scopes=list(api_keys.SCOPES)
        ).secret
    try:
        yield schemathesis.openapi.from_asgi("/api/v1/openapi.json", build_api())
    finally:
        dispose_engines()
        get_settings.cache_clear()
        get_limiter.cache_clear()
        runtime.reset()


@pytest.mark.slow
def test_every_operation_answers_as_documented(api_schema: OpenApiSchema) -> None:
    headers = {"Authorization": f"Bearer {_KEY['secret']}"}
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # every operation's schema is valid
        operations.append(result.ok())
    assert len(operations) == 8
    answered: dict[str, set[int]] = {}

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Case) -> None:
            # The service checks more than the schema can say (a style or an id that exists, a
            # cursor this API handed out) and answers those with a documented 4xx problem:
            # schema-valid data is not always accepted.
            response = case.call_and_validate(
                headers=headers, excluded_checks=[positive_data_acceptance]
            )
            answered.setdefault(case.operation.label, set()).add(response.status_code)

        check()

    # The key worked: the reads succeeded (not a run of 401s that conform all the same).
    assert 200 in answered["GET /credits"] and 200 in answered["GET /generations"]
    assert 200 in answered["GET /credits/ledger"]


@pytest.mark.slow
def test_linked_operations_answer_as_documented_statefully(
    api_schema: OpenApiSchema, tmp_path: Path
) -> None:
    """Stateful: the schemathesis command follows the document's links (an upload into a
    generation; a batch or a list into that generation's read, cancel and delete) against the
    API served over HTTP, with real ids from real answers. Every check but the one that
    expects all schema-valid data accepted (see above)."""
    del api_schema  # the database, the key and the settings it sets up
    with ServerThread(build_api(), name="rest-api") as server:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"http://127.0.0.1:{server.port}/api/v1/openapi.json",
                "--phases",
                "stateful",
                "--checks",
                "all",
                "--exclude-checks",
                "positive_data_acceptance",
                "--max-examples",
                "40",
                # One sequence of scenarios, the same every run: a finding is then this
                # change's, not the luck of the draw (run it with other seeds by hand).
                "--seed",
                "20261203",
                "--no-color",
                "-H",
                f"Authorization: Bearer {_KEY['secret']}",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    assert "Stateful" in done.stdout and "passed" in done.stdout, report
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", done.stdout)
    assert links and int(links.group(1)) >= 1, report  # the links were followed
