"""The production command's supervision, with real processes: the web child exiting stops the
rest and the command exits 1; a worker that dies is started again (and one that keeps dying
stops everything, exit 1); SIGTERM stops every child (SIGKILL for one that ignores it) and
exits 0; a supervisor killed outright takes its children with it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', "
    "flush=True); time.sleep(120)",
]
FAILING = [sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"]

# Workers (names starting with "worker") are restarted, as `children_for` makes them; the
# back-off is shortened, and the limit lowered, so that giving up takes seconds.
SUPERVISE = """
import json, logging, sys
from pathlib import Path
from stylestudio.production import Child, RestartPolicy, Supervisor
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
spec = json.loads(sys.argv[1])
children = [
    Child(name=name, argv=argv, restart=name.startswith("worker"))
    for name, argv in spec["children"]
]
policy = RestartPolicy(limit=3, window_s=60, first_delay_s=0.2, max_delay_s=1)
supervisor = Supervisor(
    children=children, env={}, cwd=Path("."), grace_s=spec["grace"], restarts=policy
)
sys.exit(supervisor.run())
"""


def _supervise(
    tmp_path: Path, children: list[tuple[str, list[str]]], grace: float = 5.0
) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "supervisor.log"
    spec = json.dumps({"children": children, "grace": grace})
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISE, spec],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    return process, log


def _starts(log: Path) -> list[tuple[str, int]]:
    return [
        (name, int(pid))
        for name, pid in re.findall(r"started (\S+) \(pid (\d+)\)", log.read_text())
    ]


def _started(log: Path, count: int) -> dict[str, int]:
    """{child name: latest pid} once the supervisor has logged `count` starts."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = _starts(log)
        if len(found) >= count:
            return dict(found)
        time.sleep(0.05)
    raise AssertionError(log.read_text())


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _gone(pid: int, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(autouse=True)
def _linux_only() -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("reads /proc")


def test_the_web_child_exiting_stops_the_others_and_the_command_fails(tmp_path: Path) -> None:
    process, log = _supervise(tmp_path, [("web", FAILING), ("worker-1", SLEEPER)])
    pids = _started(log, 2)
    assert process.wait(timeout=30) == 1
    text = log.read_text()
    assert f"web (pid {pids['web']}) exited with status 3: stopping the others" in text
    assert _gone(pids["worker-1"])


def test_a_killed_worker_is_started_again_and_the_rest_keeps_running(tmp_path: Path) -> None:
    process, log = _supervise(tmp_path, [("web", SLEEPER), ("worker-1", SLEEPER)])
    pids = _started(log, 2)
    os.kill(pids["worker-1"], signal.SIGKILL)
    again = _started(log, 3)
    assert again["worker-1"] != pids["worker-1"]
    assert f"worker-1 (pid {pids['worker-1']}) exited with status -9: restarting it" in (
        log.read_text()
    )
    assert process.poll() is None and _running(pids["web"]) and _running(again["worker-1"])
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert _gone(pids["web"]) and _gone(again["worker-1"])


def test_a_worker_that_keeps_dying_stops_the_command(tmp_path: Path) -> None:
    process, log = _supervise(tmp_path, [("web", SLEEPER), ("worker-1", FAILING)])
    pids = _started(log, 2)
    assert process.wait(timeout=60) == 1
    text = log.read_text()
    workers = [pid for name, pid in _starts(log) if name == "worker-1"]
    assert len(workers) == 3, text  # started, then restarted twice: the third death gives up
    assert text.count("exited with status 3: restarting it") == 2
    assert f"worker-1 (pid {workers[-1]}) exited with status 3, 3 times in 60 s: giving up" in text
    assert _gone(pids["web"])


def test_sigterm_stops_every_child_and_the_command_succeeds(tmp_path: Path) -> None:
    process, log = _supervise(tmp_path, [("web", SLEEPER), ("worker-1", STUBBORN)], grace=1.0)
    pids = _started(log, 2)
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # the stubborn child ignores SIGTERM from here on
    os.kill(process.pid, signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    text = log.read_text()
    assert "SIGTERM received: stopping every process" in text
    assert "worker-1 did not stop in 1 s: killing it" in text
    assert _gone(pids["web"]) and _gone(pids["worker-1"])


def test_a_supervisor_killed_outright_takes_its_children_along(tmp_path: Path) -> None:
    process, log = _supervise(tmp_path, [("web", SLEEPER), ("worker-1", SLEEPER)])
    pids = _started(log, 2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert _gone(pids["web"]) and _gone(pids["worker-1"])
