"""Event-handler arguments, checked where they enter.

Every `@rx.event` handler is a public RPC: a browser console can send any JSON for any of
its arguments (a list where a string was meant, 2**70 for an id, "²" for a digit, a 100 kB
string). `@checked(...)`, placed under `@rx.event`, names a rule for every argument; each
rule is a pydantic `TypeAdapter`. A refused argument runs nothing, changes nothing and is
answered with an error toast that says what was wrong — never a traceback.

    @rx.event
    @checked(link_id=ROW_ID)
    async def revoke_share(self, link_id: int): ...

Reflex converts some values by the annotation first (a digit string for an `int`); the
rule checks what reaches the handler."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, TypeVar

import reflex as rx
from pydantic import (
    Field,
    InstanceOf,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from reflex.state import EventHandlerSetVar
from reflex_base.event import EventHandler

from stylestudio.services.ids import MAX_ROW_ID
from stylestudio.state.form_values import is_checked

log = logging.getLogger(__name__)


class _NoArgumentValuesInTheLog(logging.Filter):
    """Reflex logs the whole value of an argument it could not convert by the handler's
    annotation (a 100 kB string makes a 100 kB warning). The handler's rule refuses it and
    logs why; the value itself, which the client chose, is left out."""

    PREFIX = "Error transforming event payload"

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(self.PREFIX) and " with value " in message:
            record.msg = message.split(" with value ", 1)[0] + " (value not logged)"
            record.args = None
        return True


logging.getLogger("reflex_base.event.processor.base_state_processor").addFilter(
    _NoArgumentValuesInTheLog()
)

F = TypeVar("F", bound=Callable[..., Any])

# Where a handler keeps its rules (the fuzz test reads them).
RULES_ATTRIBUTE = "__argument_rules__"
CHECKBOX = -1  # a form field that is a checkbox, not text


class ArgumentRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Rule:
    """One argument's rule: what it must be (`adapter`), how to say so (`expected`), and
    what the handler is given once it passed (`convert`)."""

    adapter: TypeAdapter[Any]
    expected: str
    convert: Callable[[Any], Any] | None = None
    form_fields: Mapping[str, int] = field(default_factory=dict)

    def check(self, name: str, value: Any) -> Any:
        try:
            valid = self.adapter.validate_python(value, strict=True)
        except ValidationError:
            raise ArgumentRefused(f"{_label(name)} must be {self.expected}.") from None
        return self.convert(valid) if self.convert is not None else valid


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _rule(tp: Any, expected: str, convert: Callable[[Any], Any] | None = None) -> Rule:
    return Rule(TypeAdapter(tp), expected, convert)


# -- the rules ---------------------------------------------------------------------------

ROW_ID = _rule(
    Annotated[StrictInt, Field(gt=0, le=MAX_ROW_ID)], f"a whole number from 1 to {MAX_ROW_ID}"
)
# 0 means "none" (e.g. `All` instead of a collection).
ROW_ID_OR_ZERO = _rule(
    Annotated[StrictInt, Field(ge=0, le=MAX_ROW_ID)], f"a whole number from 0 to {MAX_ROW_ID}"
)
FLAG = _rule(StrictBool, "true or false")


def bounded_int(low: int, high: int, *, optional: bool = False) -> Rule:
    tp: Any = Annotated[StrictInt, Field(ge=low, le=high)]
    return _rule(
        tp | None if optional else tp,
        f"a whole number from {low} to {high}" + (" (or nothing)" if optional else ""),
    )


def digits(max_digits: int) -> Rule:
    """A number chosen as text (a select's value): ASCII digits only — `str.isdigit` also
    accepts "²", which `int()` refuses."""
    return _rule(
        Annotated[StrictStr, StringConstraints(pattern=rf"^[0-9]{{1,{max_digits}}}$")],
        f"a whole number of at most {max_digits} digits",
    )


ASCII_DIGITS = frozenset("0123456789")


def only_digits(value: str) -> str:
    """What is left of typed text after everything but 0-9 is dropped."""
    return "".join(ch for ch in value if ch in ASCII_DIGITS)


def whole_number(value: str) -> int | None:
    """`value` as a whole number when it is ASCII digits only, else None (never raises)."""
    return int(value) if value and len(value) <= 18 and set(value) <= ASCII_DIGITS else None


def choice(*values: str) -> Rule:
    shown = ", ".join(repr(v) for v in values[:8]) + (", …" if len(values) > 8 else "")
    return _rule(Literal[values], f"one of {shown}")


def text(limit: int) -> Rule:
    """Typed text. Cut to `limit` before it is kept, as the pages always did (the services
    check the real length and say so); anything but a string is refused."""
    return _rule(StrictStr, "text", lambda value: value[:limit])


def text_list(max_items: int, max_length: int) -> Rule:
    return _rule(
        Annotated[
            list[Annotated[StrictStr, StringConstraints(max_length=max_length)]],
            Field(max_length=max_items),
        ],
        f"a list of at most {max_items} short texts",
    )


def numbers(min_items: int, max_items: int) -> Rule:
    """A slider's value: a list of finite numbers."""
    number = Annotated[float, Field(allow_inf_nan=False)]
    return _rule(
        Annotated[list[number], Field(min_length=min_items, max_length=max_items)],
        f"a list of {min_items} to {max_items} numbers",
    )


# An upload's progress as Reflex's upload helper reports it (loaded, total, progress).
UPLOAD_PROGRESS = _rule(
    Annotated[dict[StrictStr, Annotated[float, Field(allow_inf_nan=False)]], Field(max_length=10)],
    "an upload's progress (a few numbers)",
)


def form(**fields: int) -> Rule:
    """A submitted form: only the named fields are kept; each is text (cut to its limit, as
    `text`) or, for CHECKBOX, a checkbox (ticked or not). A missing field stays missing.
    Reflex's forms send text, and booleans for checkboxes."""

    def keep(sent: dict[str, Any]) -> dict[str, Any]:
        kept: dict[str, Any] = {}
        for name, limit in fields.items():
            value = sent.get(name)
            if value is None:  # not sent, or a field the page did not render (its ref: null)
                continue
            if limit == CHECKBOX:
                kept[name] = is_checked(value)
            elif isinstance(value, str):
                kept[name] = value[:limit]
            else:
                raise ArgumentRefused(f"{_label(name)} must be text.")
        return kept

    return Rule(TypeAdapter(dict[StrictStr, Any]), "a form", keep, form_fields=fields)


UPLOADS = _rule(list[InstanceOf[rx.UploadFile]], "files uploaded by the page")


# -- the decorator -----------------------------------------------------------------------


def refusal(message: str) -> Any:
    return rx.toast.error(message, id="argument-refused")


def _checked_arguments(
    fn: Callable[..., Any],
    signature: inspect.Signature,
    rules: Mapping[str, Rule],
    *args: Any,
    **kwargs: Any,
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        raise ArgumentRefused("This request does not match what the page sends.") from None
    for name, rule in rules.items():
        if name in bound.arguments:
            bound.arguments[name] = rule.check(name, bound.arguments[name])
    return bound.args, bound.kwargs


def checked(**rules: Rule) -> Callable[[F], F]:
    """Check every argument of the handler below by its rule before it runs (one rule per
    argument, or the app does not start)."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        params = [p for p in signature.parameters if p != "self"]
        if sorted(params) != sorted(rules):
            raise TypeError(f"{fn.__qualname__}: rules for {sorted(rules)}, arguments {params}")
        name = fn.__qualname__

        def refuse(exc: ArgumentRefused) -> Any:
            log.warning("refused an argument of %s: %s", name, exc.message)
            return refusal(f"Refused: {exc.message} Reload the page and try again.")

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    args, kwargs = _checked_arguments(fn, signature, rules, *args, **kwargs)
                except ArgumentRefused as exc:
                    yield refuse(exc)
                    return
                async for update in fn(*args, **kwargs):
                    yield update

            wrapper: Any = agen_wrapper
        elif inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    args, kwargs = _checked_arguments(fn, signature, rules, *args, **kwargs)
                except ArgumentRefused as exc:
                    return refuse(exc)
                return await fn(*args, **kwargs)

            wrapper = async_wrapper
        else:

            @functools.wraps(fn)
            def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    args, kwargs = _checked_arguments(fn, signature, rules, *args, **kwargs)
                except ArgumentRefused as exc:
                    return refuse(exc)
                return fn(*args, **kwargs)

            wrapper = sync_wrapper
        setattr(wrapper, RULES_ATTRIBUTE, dict(rules))
        return wrapper

    return decorate


# -- Reflex's own `setvar` ----------------------------------------------------------------


class CheckedSetVar(EventHandlerSetVar):
    """Reflex gives every state a `setvar(var_name, value)` handler that calls
    `set_<var_name>(value)`. Here it reaches only a state's own synchronous `set_…` event
    handlers (whose `@checked` rules then check the value); anything else is refused.
    (`self` in `setvar` is the state, as in Reflex's.)"""

    def setvar(self, var_name: Any = None, value: Any = None, **more: Any) -> Any:
        target = (
            getattr(type(self), f"set_{var_name}", None)
            if isinstance(var_name, str) and len(var_name) < 100 and not more
            else None
        )
        fn = target.fn if isinstance(target, EventHandler) else None
        if fn is None or inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            log.warning("refused setvar of %s", type(self).__name__)
            return refusal("Refused: nothing of that name can be set here.")
        return fn(self, value)
