"""The page states call no rate limiter, storage or provider themselves (issue 16's
acceptance 2): those calls belong to the service flows (`services/*/*_flows.py`), which the
REST API calls too. A state may only hand the process's adapters to a flow.

Checked on the source of `stylestudio/state/`:
- no import of an adapter module (its clients, errors, constants) other than an adapter
  getter, nor of the rate limiter or the quiet cancel at the provider;
- every call of an adapter getter (`get_storage()`, `get_checkout_provider()`, ...) is an
  argument of a call of a flow, directly or through `asyncio.to_thread` /
  `functools.partial` — never kept in a variable, called on, compared or passed elsewhere."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

STATE = Path(__file__).resolve().parents[2] / "stylestudio" / "state"

# What builds or hands out the process's outside systems.
ADAPTER_GETTERS = frozenset(
    {
        "get_storage",
        "get_checkout_provider",
        "get_test_checkout",
        "get_prediction_engine",
        "get_generation_engine",
        "get_mailer",
    }
)
# Modules a state never imports from (beyond the getters above).
FORBIDDEN_MODULES = (
    "stylestudio.adapters",  # storage, payments, engines, mail: their clients and errors
    "stylestudio.services.rate_limits",
    "stylestudio.services.generation.generation_predictions",
)
FORBIDDEN_NAMES = frozenset({"get_limiter", "RateLimiter", "cancel_quietly"})
# Calls that run their first argument: the flow is that argument.
RUNNERS = frozenset({"asyncio.to_thread", "to_thread", "functools.partial", "partial"})
FLOW = re.compile(r"(^|\.)\w+_flows\.\w+$")


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _flow_target(call: ast.Call) -> str:
    target = ast.unparse(call.func)
    if target in RUNNERS and call.args:
        target = ast.unparse(call.args[0])
    return target


def outside_calls(source: str, filename: str = "<state>") -> list[str]:
    """Each import or use of a limiter, storage or provider in this state module's source."""
    tree = ast.parse(source, filename=filename)
    parent: dict[ast.AST, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parent[child] = node
    found: list[str] = []

    def say(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {a.name for a in node.names}
            module = node.module
            if module.startswith(FORBIDDEN_MODULES) and not names <= ADAPTER_GETTERS:
                say(node, f"imports {', '.join(sorted(names - ADAPTER_GETTERS))} from {module}")
            elif names & FORBIDDEN_NAMES:
                say(node, f"imports {', '.join(sorted(names & FORBIDDEN_NAMES))}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(FORBIDDEN_MODULES):
                    say(node, f"imports {alias.name}")
        elif isinstance(node, (ast.Name, ast.Attribute)) and _name(node) in FORBIDDEN_NAMES:
            say(node, f"uses {_name(node)}")
        elif isinstance(node, (ast.Name, ast.Attribute)) and _name(node) in ADAPTER_GETTERS:
            call = parent.get(node)
            if not (isinstance(call, ast.Call) and call.func is node):
                say(node, f"passes {_name(node)} around instead of calling it for a flow")
                continue
            holder = parent.get(call)
            outer = parent.get(holder) if isinstance(holder, ast.keyword) else holder
            if not (
                isinstance(outer, ast.Call)
                and (call in outer.args or isinstance(holder, ast.keyword))
                and outer.func is not call
                and FLOW.search(_flow_target(outer))
            ):
                say(node, f"{_name(node)}() is used here, not handed to a service flow")
    return found


def state_sources(root: Path) -> Iterable[tuple[str, str]]:
    for path in sorted(root.rglob("*.py")):
        yield path.read_text(), str(path.relative_to(root.parent.parent))


def test_no_state_calls_a_limiter_storage_or_provider() -> None:
    found = [hit for source, name in state_sources(STATE) for hit in outside_calls(source, name)]
    assert found == []


# --------------------------------------------------------------------------- the check can fail


@pytest.mark.parametrize(
    "planted",
    [
        "from stylestudio.services.rate_limits import get_limiter\n",
        "from stylestudio.services import rate_limits\n"
        "def f():\n    rate_limits.get_limiter().generation_start(user_id=1)\n",
        "from stylestudio.adapters.payments import PaymentProviderError\n",
        "import stylestudio.adapters.storage\n",
        "from stylestudio.services.generation.generation_predictions import cancel_quietly\n",
        "from stylestudio import runtime\n"
        "async def f(key):\n    storage = runtime.get_storage()\n"
        "    await asyncio.to_thread(storage.delete, key)\n",
        "async def f(key):\n    await asyncio.to_thread(get_storage().delete, key)\n",
        "def f(s):\n    media.store_upload(s, storage=get_storage(), user_id=1)\n",
        "def f():\n    return get_checkout_provider() is not None\n",
        "def f():\n    return lambda: get_prediction_engine\n",
        "async def f(pid):\n    await get_prediction_engine().cancel(pid)\n",
    ],
)
def test_a_planted_call_is_found(planted: str) -> None:
    assert outside_calls(planted) != []


def test_handing_adapters_to_a_flow_is_allowed() -> None:
    source = (
        "from stylestudio.adapters.mailer import get_mailer\n"
        "from stylestudio.runtime import get_storage\n"
        "async def f():\n"
        "    await asyncio.to_thread(\n"
        "        account_flows.delete_account, db=get_engine(), storage=get_storage(), user_id=1\n"
        "    )\n"
        "    account_flows.resend_verification(mailer=get_mailer(), user_id=1)\n"
        "    await generation_flows.cancel_generation(\n"
        "        predictions=runtime.get_prediction_engine()\n"
        "    )\n"
    )
    assert outside_calls(source) == []
