"""Beijing time: the one clock users see, whatever offset a time was written or stored with.

Storage keeps UTC (:class:`models.tables.UtcDateTime`); every time read back, validated or taken
from the clock is expressed at +08:00, so a create, a read and a list show the same clock time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")


def beijing_now() -> dt.datetime:
    return dt.datetime.now(BEIJING)


def in_beijing(value: dt.datetime) -> dt.datetime:
    """The same instant at +08:00; a naive time is taken as Beijing time already."""
    return value.replace(tzinfo=BEIJING) if value.tzinfo is None else value.astimezone(BEIJING)
