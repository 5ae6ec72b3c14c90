"""CSV for spreadsheets: one line at a time (so exports stream), cells that cannot run."""

from __future__ import annotations

import csv
from collections.abc import Iterable

BOM = "\ufeff"  # first, for Excel to read the file as UTF-8
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Line:
    def write(self, value: str) -> str:
        return value


def safe_cell(value: str) -> str:
    """Spreadsheets run cells that start like a formula; a leading quote keeps them text."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_line(cells: Iterable[str]) -> str:
    """One CSV line (with its line break)."""
    return csv.writer(_Line()).writerow(list(cells))
