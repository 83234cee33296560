"""Close's value formats: datetimes, money as Close shows it, and the fields derived from a value."""
from __future__ import annotations

from datetime import datetime

from mock_server.timefmt import iso_utc

PERIOD_SUFFIX = {"one_time": "", "monthly": " monthly", "annual": " annually"}


def close_datetime(moment: datetime) -> str:
    """Close writes `2013-08-23T21:21:11.862000+00:00`: milliseconds, padded to six digits (seed 003)."""
    return iso_utc(moment, "milliseconds") + "000+00:00"


def format_money(cents: int | None, period: str) -> str | None:
    """Cents as Close shows them: 20000 → "$200", 100000 → "$1,000", 500 monthly → "$5 monthly";
    no value, and a value of 0, show as null (seed 003: `opportunity_value: 0`,
    `opportunity_value_formatted: null`)."""
    if not cents:
        return None
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    amount = f"{dollars:,}" if rest == 0 else f"{dollars:,}.{rest:02d}"
    return f"{sign}${amount}{PERIOD_SUFFIX.get(period, '')}"


def value_fields(value: int | None, confidence: int, period: str) -> dict:
    """The fields Close derives from value, confidence and period."""
    factor = 12 if period == "monthly" else 1
    expected = None if value is None else round(value * confidence / 100)
    return {
        "value": value,
        "value_period": period,
        "confidence": confidence,
        "expected_value": expected,
        "annualized_value": None if value is None else value * factor,
        "annualized_expected_value": None if expected is None else expected * factor,
        "value_currency": "USD",
        "value_formatted": format_money(value, period),
    }
