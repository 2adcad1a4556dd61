"""validate.safedurations: durations read from a hostile document fail only with DurationError."""

from __future__ import annotations

import pytest

from specrunner.core.durations import DurationError
from specrunner.validate import safedurations
from specrunner.validate.safedurations import interval_s, time_ms


def test_durations_in_the_api_units() -> None:
    assert time_ms("1.5s") == 1500 and time_ms(250) == 250 and time_ms("00:01:30.500") == 90_500
    assert interval_s("2m") == 120 and interval_s(3) == 3


def test_the_parsers_own_messages_pass_through() -> None:
    with pytest.raises(DurationError, match=r"^'1500ms' is not a whole number of seconds; the service's"):
        interval_s("1500ms")
    with pytest.raises(DurationError, match=r"^cannot read '5 sec' as a duration; write e\.g\. 5s"):
        time_ms("5 sec")


def test_a_long_text_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(DurationError) as e:
        time_ms("9" * 5000 + ":00:00")  # int() of it would raise ValueError (the digit limit)
    assert str(e.value) == "'" + "9" * 56 + "... is too long to be a duration"


@pytest.mark.parametrize("error", [ValueError("digits"), ArithmeticError("overflow")])
def test_any_other_failure_becomes_a_duration_error(error: Exception) -> None:
    def parser(value: object) -> int:
        raise error

    with pytest.raises(DurationError, match=r"^cannot read '12h' as a duration$"):
        safedurations._duration(parser, "12h")
