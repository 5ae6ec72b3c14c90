"""The geometry of the labels' overlap map (templates/admin/labels/label/overlap.html): where each
cell, name and number goes in the server-rendered SVG, and how dark each cell is. Colours are
CSS classes (static/css/labels.css), so the map follows the light or dark theme."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from labels.selectors import Overlap

CELL = 40  # px, a square per pair
LEFT = 190  # px, room for the row names
TOP = 150  # px, room for the column names, slanted
NAME_CHARS = 24
SHADES = 6  # heat-0 (nobody shared) .. heat-5 (all of the smaller label)


@dataclass(frozen=True)
class Cell:
    x: int
    y: int
    row: object  # Label
    column: object  # Label
    count: int
    share: int  # % of the smaller label's contacts that have both
    shade: str  # CSS class
    text: str  # the number, short ("1.2k"), shown in the cell
    url: str  # the contacts page with ALL of both labels
    said: str  # the cell in words, for a tooltip and a screen reader


@dataclass(frozen=True)
class Name:
    x: int
    y: int
    text: str  # shortened to fit
    full: str


@dataclass(frozen=True)
class OverlapMap:
    width: int
    height: int
    cells: list[Cell]
    rows: list[Name]
    columns: list[Name]


def short_number(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 10_000:
        return f"{n / 1000:.1f}k".replace(".0k", "k")
    if n < 1_000_000:
        return f"{n // 1000}k"
    return f"{n / 1_000_000:.1f}M".replace(".0M", "M")


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def overlap_map(overlap: Overlap, *, contacts_url: str) -> OverlapMap:
    """Every pair of the overlap's labels as a cell (the diagonal: the label alone)."""
    labels = overlap.labels
    cells = []
    for i, row in enumerate(labels):
        for j, column in enumerate(labels):
            count = overlap.pair(row, column)
            smaller = min(row.contact_count, column.contact_count) or 1
            share = round(100 * count / smaller)
            if i == j:
                shade = "heat-self"
                said = f"{row.display_name}: {count:,} contacts"
                keys = [("all", row.key)]
            else:
                shade = f"heat-{min(SHADES - 1, (share * (SHADES - 1) + 99) // 100)}"
                said = (
                    f"{row.display_name} and {column.display_name}: {count:,} contacts have "
                    f"both, {share}% of {_smaller(row, column).display_name}"
                )
                keys = [("all", row.key), ("all", column.key)]
            cells.append(
                Cell(
                    x=LEFT + j * CELL,
                    y=TOP + i * CELL,
                    row=row,
                    column=column,
                    count=count,
                    share=share,
                    shade=shade,
                    text=short_number(count),
                    url=f"{contacts_url}?{urlencode(keys)}",
                    said=said,
                )
            )
    rows = [
        Name(LEFT - 8, TOP + i * CELL + CELL // 2, _short(lb.display_name), lb.display_name)
        for i, lb in enumerate(labels)
    ]
    columns = [
        Name(LEFT + j * CELL + CELL // 2, TOP - 8, _short(lb.display_name), lb.display_name)
        for j, lb in enumerate(labels)
    ]
    size = len(labels) * CELL
    # The last column's name leans out to the right of the grid.
    return OverlapMap(LEFT + size + TOP, TOP + size + 10, cells, rows, columns)


def _smaller(a, b):
    return a if a.contact_count <= b.contact_count else b


BAR = 44  # px per week
HALF = 70  # px for the tallest bar, above the line (gained) and below it (lost)
AXIS_LEFT = 8


@dataclass(frozen=True)
class WeekBar:
    x: int
    week: object  # date, the Monday
    gained: int
    lost: int
    up: int  # px above the middle line
    down: int  # px below it
    top: int  # y where the gained bar starts
    bottom: int  # y just below the lost bar
    gained_text: str
    lost_text: str
    said: str


@dataclass(frozen=True)
class WeeksChart:
    width: int
    height: int
    middle: int  # y of the line between gained and lost
    bars: list[WeekBar]
    gained: int
    lost: int


def weeks_chart(weeks: list[tuple]) -> WeeksChart:
    """Bars of contacts gained (up) and lost (down) per week, on one scale."""
    tallest = max([1, *(g for _w, g, _l in weeks), *(lost for _w, _g, lost in weeks)])
    middle = HALF + 14
    bars = []
    for n, (week, gained, lost) in enumerate(weeks):
        up = max(2, round(HALF * gained / tallest)) if gained else 0
        down = max(2, round(HALF * lost / tallest)) if lost else 0
        bars.append(
            WeekBar(
                x=AXIS_LEFT + n * BAR,
                week=week,
                gained=gained,
                lost=lost,
                up=up,
                down=down,
                top=middle - up,
                bottom=middle + down + 12,
                gained_text=short_number(gained) if gained else "",
                lost_text=short_number(lost) if lost else "",
                said=f"Week of {week:%d %b %Y}: {gained:,} gained, {lost:,} lost",
            )
        )
    return WeeksChart(
        width=AXIS_LEFT * 2 + len(weeks) * BAR,
        height=2 * HALF + 46,
        middle=middle,
        bars=bars,
        gained=sum(b.gained for b in bars),
        lost=sum(b.lost for b in bars),
    )
