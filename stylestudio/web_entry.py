"""The production web child: `python -m stylestudio.web_entry run --env prod ...` is
`reflex run` with one change, Granian respawning a backend process that dies.

Reflex builds its `granian.server.Server` itself, inside
`reflex.utils.exec.run_granian_backend_prod`, with no way to pass Granian's
`respawn_failed_workers` (its default is off, and the `GRANIAN_RESPAWN_FAILED_WORKERS`
variable is read by Granian's own CLI only). Reflex imports the class from `granian.server`
when it starts the server, so this entry puts a subclass whose default is on in its place
before handing over to Reflex's CLI: the one place that knows. Off, one killed backend
process takes Granian's main process, and with it every tab, down; on, Granian starts another
in its place while the others keep serving (and exits, as before, when a process it respawned
dies again within seconds: a crash loop)."""

from __future__ import annotations

from typing import Any

import granian.server
from granian.server import Server as GranianServer


class RespawningServer(GranianServer):  # type: ignore[misc, valid-type]
    """Granian's server, respawning a worker process that dies unless told otherwise.

    Defined at module level: with the `spawn` start method the class must be importable by
    name in the processes it starts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("respawn_failed_workers", True)
        super().__init__(*args, **kwargs)


def install_respawning_server() -> None:
    """Put `RespawningServer` where Reflex looks for Granian's server class."""
    granian.server.Server = RespawningServer


def main() -> None:
    install_respawning_server()
    from reflex.reflex import cli

    cli(prog_name="reflex")


if __name__ == "__main__":
    # Run as the importable module, not as `__main__`: the class keeps its real name.
    from stylestudio.web_entry import main as entry

    entry()
