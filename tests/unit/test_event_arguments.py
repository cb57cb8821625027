"""The rules of `@checked`: what a handler is given, and what is refused with which words."""

from __future__ import annotations

import math
from typing import Any

import pytest

from stylestudio.state.arguments import (
    CHECKBOX,
    ROW_ID,
    ArgumentRefused,
    checked,
    digits,
    form,
    whole_number,
)


@pytest.mark.parametrize("value", [0, -1, 2**31, 2**70, True, 1.0, "1", None, [1], math.nan])
def test_a_row_id_is_a_plain_positive_32_bit_int(value: Any) -> None:
    with pytest.raises(ArgumentRefused) as refused:
        ROW_ID.check("link_id", value)
    assert refused.value.message == "Link id must be a whole number from 1 to 2147483647."


def test_a_row_id_passes_as_it_is() -> None:
    assert ROW_ID.check("link_id", 2**31 - 1) == 2**31 - 1


@pytest.mark.parametrize("value", ["²", "1²", "٣", "", "123", " 1", 1, None])
def test_digits_are_ascii_digits_only(value: Any) -> None:
    """`str.isdigit` accepts "²" and "٣"; `int()` refuses the first."""
    with pytest.raises(ArgumentRefused):
        digits(2).check("value", value)
    assert digits(2).check("value", "12") == "12"


def test_a_kept_number_is_read_without_raising() -> None:
    assert [whole_number(v) for v in ("13", "²", "", "1" * 19, "007")] == [13, None, None, None, 7]


def test_a_form_keeps_only_its_fields_and_cuts_text_to_its_limit() -> None:
    rule = form(email=10, is_active=CHECKBOX)
    kept = rule.check("form", {"email": "a" * 50, "is_active": "on", "role": "admin"})
    assert kept == {"email": "a" * 10, "is_active": True}
    assert rule.check("form", {}) == {}  # a missing field stays missing
    assert rule.check("form", {"email": None, "is_active": False}) == {"is_active": False}
    with pytest.raises(ArgumentRefused) as refused:
        rule.check("form", {"email": ["a@b.c"]})
    assert refused.value.message == "Email must be text."
    with pytest.raises(ArgumentRefused):
        rule.check("form", ["email"])


def test_every_argument_needs_a_rule() -> None:
    with pytest.raises(TypeError):

        @checked(link_id=ROW_ID)
        def handler(self: object, link_id: int, extra: str) -> None: ...


def test_a_refused_argument_never_reaches_the_handler() -> None:
    calls: list[int] = []

    @checked(link_id=ROW_ID)
    def handler(self: object, link_id: int) -> None:
        calls.append(link_id)

    as_sent: Any = handler  # a browser sends whatever it likes
    assert as_sent(object(), link_id=2**70) is not None  # the refusal toast
    assert as_sent(object()) is not None  # nothing sent
    assert as_sent(object(), link_id=1, more=2) is not None  # more than the page sends
    assert calls == []
    assert handler(object(), link_id=7) is None
    assert calls == [7]
