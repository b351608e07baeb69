"""Dates a user types: ``--since/--until`` and a note's front matter ``date:``."""

from __future__ import annotations

import re
from datetime import date, datetime


def parse_when(value: str | float | int | date | datetime | None, end_of_day: bool = False):
    """A date for ``--since/--until``: ``YYYY-MM-DD``, an ISO datetime, or epoch seconds.

    Args:
        value: the date; None passes through.
        end_of_day: a bare date means the end of that day (for ``until``, inclusive).

    Returns:
        Epoch seconds (local time for dates/datetimes without a zone), or None.

    Raises:
        ValueError: not a date.
    """
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, date):
        value = value.isoformat()
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        day = datetime.fromisoformat(text)
        if end_of_day:
            return day.timestamp() + 86400 - 1e-3
        return day.timestamp()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(
            f"bad date {text!r}: use YYYY-MM-DD or an ISO datetime (2024-05-01T14:30)"
        ) from None
