"""An audience's size over time, drawn as an SVG by the template from these numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from labels.charts import short_number

# px of the plot: about a side panel's width, so that its text is not scaled down
WIDTH, HEIGHT = 250, 110
LEFT, TOP, BOTTOM = 40, 10, 24  # px of room for the count axis and the day axis


@dataclass(frozen=True)
class SizeDay:
    day: date
    count: int
    smallest: int
    largest: int
    x: float
    y: float

    @property
    def said(self) -> str:
        spread = ""
        if self.smallest != self.largest:
            spread = f" (between {self.smallest:,} and {self.largest:,} that day)"
        return f"{self.day:%d %b %Y}: {self.count:,} contacts{spread}"


@dataclass(frozen=True)
class SizesChart:
    days: list[SizeDay]  # the days counted, oldest first
    line: str  # the polyline's points: a step from each counted day to the next
    width: int
    height: int
    top: int  # the count at the top of the scale
    top_text: str
    first: date
    last: date
    base: float  # y of the zero line

    @property
    def latest(self) -> SizeDay:
        return self.days[-1]


def sizes_chart(
    rows: list[tuple[date, int, int, int]], *, today: date, span: int = 90
) -> SizesChart | None:
    """A step line of the last `span` days' counts ((day, count, smallest, largest) rows, oldest
    first), from the first day counted (or `span` days ago) to today; None with no rows."""
    if not rows:
        return None
    first = max(rows[0][0], today - timedelta(days=span - 1))
    rows = [row for row in rows if row[0] >= first]
    top = max(1, *(largest for *_rest, largest in rows))
    length = max(1, (today - first).days)
    base = TOP + HEIGHT

    def x(day: date) -> float:
        return round(LEFT + WIDTH * (day - first).days / length, 1)

    def y(count: int) -> float:
        return round(base - HEIGHT * count / top, 1)

    days = [SizeDay(d, n, lo, hi, x(d), y(n)) for d, n, lo, hi in rows]
    points = []
    for here, after in zip(days, [*days[1:], None], strict=True):
        end = after.x if after else x(today)
        points += [f"{here.x},{here.y}", f"{end},{here.y}"]
    return SizesChart(
        days=days,
        line=" ".join(points),
        width=LEFT + WIDTH + 8,
        height=TOP + HEIGHT + BOTTOM,
        top=top,
        top_text=short_number(top),
        first=first,
        last=today,
        base=base,
    )
