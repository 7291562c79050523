"""Lists as spreadsheets: CSV (UTF-8 with a BOM, so spreadsheet programs read it as
UTF-8) or XLSX (openpyxl), every cell that a spreadsheet program would read as a formula
neutralised (OWASP's CSV injection advice: a cell starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return is prefixed with an apostrophe)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def neutral(value: Any) -> Any:
    """A cell's value as a spreadsheet shows it and never runs it: text that starts like
    a formula gets a leading apostrophe; numbers and booleans stay as they are."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([neutral(h) for h in header])
    for row in rows:
        writer.writerow([neutral(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    import openpyxl  # only for XLSX: it costs a tenth of a second to import

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([neutral(h) for h in header])
    for row in rows:
        # Text cells are written as strings: openpyxl would store "=…" as a formula.
        sheet.append([neutral(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(fmt: str, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    if fmt == "csv":
        return to_csv(header, rows)
    if fmt == "xlsx":
        return to_xlsx(title, header, rows)
    raise ValueError(f"no spreadsheet format {fmt!r}")
