"""A list downloaded as a spreadsheet: the one response the web's downloads make (the
systems list, a system's entries of a kind, its coverage, the audit trail, the
organisation's Statement of Applicability), written by ``registry.sheets.exporting``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response

from registry.sheets import exporting


def sheet(
    fmt: str, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]], name: str
) -> Response:
    """``rows`` under ``header`` as a ``fmt`` (csv or xlsx) attachment named
    ``name.fmt``; ``title`` names the workbook's sheet."""
    return Response(
        exporting.render(fmt, title, header, rows),
        mimetype=exporting.FORMATS[fmt].split(";")[0],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )
