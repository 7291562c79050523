"""``evidence.pdf``: the pack for people, laid out with reportlab's platypus.

The chapters follow DOMAIN.md ("What an evidence pack holds"). Every chapter says what
is missing as a gap ("No monitoring plan recorded."), never as a blank. The document is
deterministic: reportlab's invariant mode, with its creation date set to the as-of
instant, so the same content gives the same bytes.

Text is set in DejaVu Sans (wide Unicode coverage) when the fonts are installed
(``fonts-dejavu-core`` on Debian; ``REGISTRY_PDF_FONT_DIR`` names another folder), and
in the Bitstream Vera fonts shipped with reportlab otherwise (Latin-1 only).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Frame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Preformatted,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.tables import CellStyle

from registry.documents.models import DOCUMENT_TYPES
from registry.evidence.collect import DocumentInPack, EntryHistory, SystemRecord
from registry.frameworks.catalogue import catalogue
from registry.ledger.canonical import instant_text
from registry.records import display
from registry.records.diff import diff_bodies
from registry.records.kinds import (
    ART_73_DAYS,  # Art 73: days to report after awareness
    KINDS,
    art_73_deadline,  # Art 73: the reporting deadline
    risk_tier,
)

if TYPE_CHECKING:
    from registry.evidence.pack import PackContent

# --- fonts ------------------------------------------------------------------------------

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu")
_DEJAVU = {
    "Regular": "DejaVuSans.ttf",
    "Bold": "DejaVuSans-Bold.ttf",
    "Italic": "DejaVuSans-Oblique.ttf",
    "Mono": "DejaVuSansMono.ttf",
}
_VERA = {"Regular": "Vera.ttf", "Bold": "VeraBd.ttf", "Italic": "VeraIt.ttf", "Mono": "Vera.ttf"}


_ASCII = range(32, 127)  # the printable ASCII characters


class PackFont(TTFont):
    """A TrueType font as reportlab sets it, its printable ASCII characters readable
    (reportlab gives them their own codes in the first subset of every document), so
    that a string of them is encoded as its own bytes, not one character at a time:
    the same bytes as TTFont.splitString, which encodes every other string."""

    def __init__(self, name: str, filename: str) -> None:
        super().__init__(name, filename, asciiReadable=1)
        glyphs = self.face.charToGlyph
        self._ascii_as_is = all(code in glyphs for code in _ASCII)

    def splitString(self, text: Any, doc: Any, encoding: str = "utf-8") -> Any:  # noqa: N802 - reportlab's name
        if (
            self._ascii_as_is
            and isinstance(text, str)
            and text.isascii()
            and text.isprintable()
            and text
            and doc in self.state  # (its first subset made, with the ASCII codes)
        ):
            return [(0, text.encode("ascii"))]
        return super().splitString(text, doc, encoding)


@functools.cache
def fonts() -> dict[str, str]:
    """Register the pack's fonts once per process; return style → font name."""
    folders = [os.environ.get("REGISTRY_PDF_FONT_DIR", ""), *_FONT_DIRS]
    for folder in filter(None, folders):
        if all((Path(folder) / f).is_file() for f in _DEJAVU.values()):
            files, family, base = _DEJAVU, "PackDejaVu", Path(folder)
            break
    else:
        files, family = _VERA, "PackVera"
        base = Path(reportlab.__file__).parent / "fonts"
    names = {}
    for style, filename in files.items():
        name = f"{family}-{style}"
        pdfmetrics.registerFont(PackFont(name, str(base / filename)))
        names[style] = name
    pdfmetrics.registerFontFamily(
        f"{family}-Regular",
        normal=names["Regular"],
        bold=names["Bold"],
        italic=names["Italic"],
        boldItalic=names["Bold"],
    )
    return names


# --- styles -----------------------------------------------------------------------------

INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5b6673")
RULE = colors.HexColor("#c9d1da")
SHADE = colors.HexColor("#eef2f6")
GAP = colors.HexColor("#9b1c1c")
GAP_BG = colors.HexColor("#fdf0f0")
MET = colors.HexColor("#1e6b3a")
PARTIAL = colors.HexColor("#8a5a00")


@functools.cache
def styles() -> dict[str, ParagraphStyle]:
    f = fonts()
    base = ParagraphStyle(
        "Body", fontName=f["Regular"], fontSize=9, leading=12, textColor=INK, splitLongWords=1
    )
    return {
        "body": base,
        "small": ParagraphStyle("Small", base, fontSize=7.5, leading=9.5, textColor=MUTED),
        "cell": ParagraphStyle("Cell", base, fontSize=8, leading=10),
        "cellhead": ParagraphStyle("CellHead", base, fontName=f["Bold"], fontSize=8, leading=10),
        "mono": ParagraphStyle("Mono", base, fontName=f["Mono"], fontSize=7.5, leading=9.5),
        "h1": ParagraphStyle(
            "H1", base, fontName=f["Bold"], fontSize=15, leading=19, spaceBefore=6, spaceAfter=8
        ),
        "h2": ParagraphStyle(
            "H2", base, fontName=f["Bold"], fontSize=11, leading=14, spaceBefore=8, spaceAfter=4
        ),
        "h3": ParagraphStyle(
            "H3", base, fontName=f["Bold"], fontSize=9.5, leading=12, spaceBefore=6, spaceAfter=3
        ),
        "system": ParagraphStyle(
            "System", base, fontName=f["Bold"], fontSize=10, leading=13, spaceBefore=6, spaceAfter=3
        ),
        "gap": ParagraphStyle(
            "Gap",
            base,
            textColor=GAP,
            backColor=GAP_BG,
            borderPadding=(3, 4, 3, 4),
            spaceBefore=3,
            spaceAfter=6,
        ),
        "contents": ParagraphStyle(
            "Contents", base, fontName=f["Bold"], fontSize=13, leading=17, spaceAfter=8
        ),
        "title": ParagraphStyle(
            "Title", base, fontName=f["Bold"], fontSize=24, leading=30, spaceAfter=10
        ),
        "subtitle": ParagraphStyle("Subtitle", base, fontSize=13, leading=17, spaceAfter=18),
        "toc0": ParagraphStyle("TOC0", base, fontSize=9.5, leading=13, leftIndent=4),
        "toc1": ParagraphStyle("TOC1", base, fontSize=8.5, leading=11, leftIndent=16),
        "right": ParagraphStyle("Right", base, fontSize=7.5, textColor=MUTED, alignment=TA_RIGHT),
    }


def p(text: Any, style: str = "body") -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), styles()[style])


def gap(text: str) -> Paragraph:
    return Paragraph(escape(text), styles()["gap"])


CELL_SIZE = 8  # points: the tables' text (leading 10)


def _cell(value: Any, width: float, bold: bool) -> Any:
    """A table cell: text stays a string, broken into the lines the column holds
    (:func:`lines_of`), which the table draws directly and splits between pages by
    line; laying out a Paragraph per cell costs several times more. No value: an empty
    cell."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    return lines_of(value, fonts()["Bold" if bold else "Regular"], width - 6)


@functools.lru_cache(maxsize=8192)
def lines_of(text: str, font: str, width: float) -> str:
    """``text`` in lines no wider than ``width`` points at the cells' size: broken
    between words, a word wider than the column broken between characters; its own
    line breaks kept. Cached: the frameworks' items and the proposals' reasons recur in
    every pack (and several times in one)."""
    out: list[str] = []
    space = pdfmetrics.stringWidth(" ", font, CELL_SIZE)
    for paragraph in text.split("\n"):
        line: list[str] = []
        used = -space
        for word in paragraph.split():
            wide = pdfmetrics.stringWidth(word, font, CELL_SIZE)
            if line and used + space + wide <= width:
                line.append(word)
                used += space + wide
                continue
            if line:
                out.append(" ".join(line))
            while wide > width and len(word) > 1:  # a hash, an address: broken at the edge
                cut = _fitting(word, font, width)
                out.append(word[:cut])
                word = word[cut:]
                wide = pdfmetrics.stringWidth(word, font, CELL_SIZE)
            line, used = [word], wide
        out.append(" ".join(line))
    return "\n".join(out)


def _fitting(word: str, font: str, width: float) -> int:
    """How many of ``word``'s first characters fit in ``width`` (at least one)."""
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if pdfmetrics.stringWidth(word[:middle], font, CELL_SIZE) <= width:
            low = middle
        else:
            high = middle - 1
    return low


SPLIT_AT_LEAST = 3 * 10 + 4  # points: three lines of a cell and its padding


@functools.cache
def cell_styles() -> tuple[CellStyle, CellStyle]:
    """The tables' two cell styles (body, header), made once and shared by every cell:
    reportlab otherwise makes a style per cell and applies each style command to each
    of them, for tables whose cells all look alike."""
    body = CellStyle("cell")
    body.fontname, body.fontsize, body.leading = fonts()["Regular"], CELL_SIZE, 10
    body.color, body.valign = INK, "TOP"
    body.leftPadding = body.rightPadding = 3
    body.topPadding = body.bottomPadding = 2
    header = body.copy()
    header.fontname = fonts()["Bold"]
    return body, header


class PackTable(Table):
    """A table whose text cells (a string of lines, left-aligned, from the top) are set
    in one text object for the whole table, each cell's lines one after the other, as
    reportlab would draw them line by line in a text object each; other cells (a
    nested table, a Paragraph) are drawn by reportlab."""

    _text: Any = None
    _text_style: CellStyle | None = None

    def _drawCell(self, cellval: Any, cellstyle: CellStyle, pos: Any, size: Any) -> None:  # noqa: N802 - reportlab's name
        if (
            not isinstance(cellval, str)
            or cellstyle.alignment != "LEFT"
            or cellstyle.valign != "TOP"
            or cellstyle.href
            or cellstyle.destination
        ):
            self._end_text()
            super()._drawCell(cellval, cellstyle, pos, size)
            return
        text = self._text
        if text is None:
            text = self._text = self.canv.beginText()
            self._text_style = None
        current = self._text_style
        if current is not cellstyle:
            if current is None or current.color != cellstyle.color:
                text.setFillColor(cellstyle.color)
            if current is None or (current.fontname, current.fontsize, current.leading) != (
                cellstyle.fontname,
                cellstyle.fontsize,
                cellstyle.leading,
            ):
                text.setFont(cellstyle.fontname, cellstyle.fontsize, cellstyle.leading)
            self._text_style = cellstyle
        (x, y), (_, height) = pos, size
        text.setTextOrigin(
            x + cellstyle.leftPadding, y + height - cellstyle.topPadding - cellstyle.fontsize
        )
        for line in cellval.split("\n"):
            text.textLine(line)

    def _end_text(self) -> None:
        if self._text is not None:
            self.canv.drawText(self._text)
            self._text = None
            self._curcellstyle = None  # the canvas's font and colour are not the text's

    def _drawLines(self) -> None:  # noqa: N802 - reportlab's name
        self._end_text()
        super()._drawLines()


def table(rows: list[list[Any]], widths: list[float], *, header: bool = True) -> Table:
    cells = [
        [_cell(c, w, header and i == 0) for c, w in zip(row, widths, strict=True)]
        for i, row in enumerate(rows)
    ]
    body, head = cell_styles()
    styles_of_cells = [
        [head if header and i == 0 else body] * len(widths) for i in range(len(rows))
    ]
    # A row of text is as tall as its longest cell's lines (what reportlab would
    # measure); one with a table or a paragraph in it is measured by reportlab.
    padding, leading = body.topPadding + body.bottomPadding, body.leading
    heights = [
        leading * (1 + max(c.count("\n") for c in row)) + padding
        if all(isinstance(c, str) for c in row)
        else None
        for row in cells
    ]
    # Long tables split between rows; a row that does not fit splits inside its cells
    # (leaving at least SPLIT_AT_LEAST on each side), so no record is too long for the
    # report: a cell taller than a page runs on over the next ones.
    t = PackTable(
        cells,
        colWidths=widths,
        repeatRows=1 if header else 0,
        hAlign="LEFT",
        splitByRow=1,
        splitInRow=SPLIT_AT_LEAST,
        cellStyles=styles_of_cells,
        rowHeights=heights,
        normalizedData=1,  # (text or flowables, by _cell)
    )
    # Only commands drawn over the cells (rules, backgrounds): one setting a cell's
    # font, colour, alignment or padding would change the styles every table shares.
    commands: list[Any] = [("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE)]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    t.setStyle(TableStyle(commands))
    return t


# --- values -----------------------------------------------------------------------------


def _profile_text(profile: dict[str, Any], name: str) -> str:
    return display.fields_of("profile", profile, names=[name])[0].text


def _instant_text(value: Any) -> str:
    return display.instant(value) if isinstance(value, str | dt.datetime) else display.plain(value)


def shown_cell(shown: display.Shown, width: float) -> Any:
    """A field's value as a table cell: lines for a list, a table for a table."""
    if shown.grid is not None:
        columns = len(shown.grid.header)
        return table(
            [list(shown.grid.header), *[list(r) for r in shown.grid.rows]],
            [(width - 6) / columns] * columns,
        )
    if shown.items:
        return "\n".join(f"• {i.text}" for i in shown.items)
    return shown.text


def entry_refs(system: SystemRecord) -> display.Refs:
    """How the PDF names an entry a body refers to (a review's procedure)."""
    entries = {e.entry_id: e for e in system.entries}

    def resolve(entry_id: int) -> tuple[str, str | None] | None:
        entry = entries.get(entry_id)
        if entry is None:
            return None
        name = display.entry_name(entry.kind, entry_id, entry.versions)
        return display.entry_reference(entry.kind, name, entry_id), None

    return resolve


def entry_table(entry: EntryHistory, width: float, refs: display.Refs | None = None) -> Table:
    body = entry.body
    version = entry.last
    declared = [n for n in KINDS[entry.kind].schema._declared_fields if n != "attachments"]
    names = [n for n in [*declared, "attachments"] if n in body or n in ("name", "title")]
    rows: list[list[Any]] = [
        ["Field", "Value"],
        *[
            [s.label, shown_cell(s, width * 0.7)]
            for s in display.fields_of(entry.kind, body, refs=refs, names=names)
        ],
        [
            "Recorded",
            f"version {version.number}, {display.instant(version.recorded_at)} by "
            f"{version.author}; effective {display.instant(version.effective_from)} "
            f"(entry {entry.entry_id})",
        ],
    ]
    return table(rows, [width * 0.3, width * 0.7])


# --- the document -----------------------------------------------------------------------


CONTENTS_PAGE = 2
MAX_CONTENTS = 48  # headings that fit on the contents page


class PackCanvas(Canvas):
    """A canvas dated at the as-of instant. Pages are kept until the document is saved;
    then, with every page laid out, it numbers them "N of M" and draws the contents on
    page 2 (left blank for it), so the document is laid out once, not twice."""

    def __init__(self, *args: Any, as_of: dt.datetime, footer: str, **kwargs: Any) -> None:
        kwargs["invariant"] = 1
        super().__init__(*args, **kwargs)
        stamp = self._doc._timeStamp
        seconds = int(as_of.timestamp())
        stamp.t = seconds
        stamp.lt = time.gmtime(seconds)
        stamp.YMDhms = tuple(stamp.lt)[:6]
        self._footer = footer
        self._pages: list[dict[str, Any]] = []
        self.headings: list[tuple[int, str, int, str]] = []

    def showPage(self) -> None:  # noqa: N802 - reportlab's name
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            if self._pageNumber == CONTENTS_PAGE:
                self._draw_contents()
            self.setFont(fonts()["Regular"], 7)
            self.setFillColor(MUTED)
            self.drawString(18 * mm, 10 * mm, self._footer)
            self.drawRightString(A4[0] - 18 * mm, 10 * mm, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()

    def _draw_contents(self) -> None:
        left, right = 18 * mm, A4[0] - 18 * mm
        y = A4[1] - 32 * mm
        self.setFillColor(INK)
        self.setFont(fonts()["Bold"], 13)
        self.drawString(left, y, "Contents")
        y -= 10 * mm
        for level, text, page, key in self.headings[:MAX_CONTENTS]:
            indent = left + (10 * mm if level else 0)
            size = 9.5 if level == 0 else 8.5
            font = fonts()["Regular"]
            self.setFont(font, size)
            self.drawString(indent, y, text)
            number = str(page)
            self.drawRightString(right, y, number)
            start = indent + pdfmetrics.stringWidth(text, font, size) + 4
            stop = right - pdfmetrics.stringWidth(number, font, size) - 4
            self.setFillColor(MUTED)
            self.setFont(font, 7)
            dots = int((stop - start) / pdfmetrics.stringWidth(". ", font, 7))
            if dots > 0:
                self.drawRightString(stop, y, ". " * dots)
            self.setFillColor(INK)
            self.linkRect("", key, (indent, y - 2, right, y + size), relative=0, thickness=0)
            y -= 6.2 * mm if level == 0 else 5.2 * mm


class PackDocument(BaseDocTemplate):
    """Cover page, then body pages with a running header; H1 and H2 headings go to the
    contents page and the PDF outline."""

    def __init__(self, fh: Any, header: str, **kwargs: Any) -> None:
        super().__init__(
            fh,
            pagesize=A4,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=20 * mm,
            bottomMargin=18 * mm,
            invariant=1,
            **kwargs,
        )
        self.header = header
        frame = Frame(self.leftMargin, self.bottomMargin, self.width, self.height, id="body")
        self.addPageTemplates(
            [
                PageTemplate(id="cover", frames=[frame]),
                PageTemplate(id="body", frames=[frame], onPage=self._running_header),
            ]
        )
        self._heading = 0

    def _running_header(self, canvas: Canvas, doc: BaseDocTemplate) -> None:
        canvas.saveState()
        canvas.setFont(fonts()["Regular"], 7)
        canvas.setFillColor(MUTED)
        canvas.drawString(self.leftMargin, A4[1] - 12 * mm, self.header)
        canvas.setStrokeColor(RULE)
        canvas.line(self.leftMargin, A4[1] - 13.5 * mm, A4[0] - self.rightMargin, A4[1] - 13.5 * mm)
        canvas.restoreState()

    def afterFlowable(self, flowable: Any) -> None:  # noqa: N802 - reportlab's name
        if not isinstance(flowable, Paragraph):
            return
        level = {"H1": 0, "H2": 1, "System": 1}.get(flowable.style.name)
        if level is None:
            return
        text = flowable.getPlainText()
        key = f"h{self._heading}"
        self._heading += 1
        self.canv.bookmarkPage(key)
        self.canv.addOutlineEntry(text, key, level=level, closed=level > 0)
        if flowable.style.name != "System":  # systems are in the outline, not the contents
            self.canv.headings.append((level, text, self.page, key))


def render(story: list[Any], *, header: str, footer: str, as_of: dt.datetime, title: str) -> bytes:
    out = io.BytesIO()
    doc = PackDocument(out, header, title=title, author="", subject="", creator="", producer="")
    doc.build(story, canvasmaker=functools.partial(PackCanvas, as_of=as_of, footer=footer))
    return out.getvalue()


# --- chapters ---------------------------------------------------------------------------

WIDTH = A4[0] - 36 * mm

# What an evidence pack holds (DOMAIN.md): the chapters on the records, each with the
# entry kinds it presents.
RECORD_CHAPTERS: list[tuple[str, tuple[str, ...]]] = [
    ("Ownership", ("owner",)),
    ("Data sources", ("data_source",)),
    ("Access grants and recertifications", ("access_grant",)),
    ("Risk register", ("risk",)),
    ("Review procedures and performed reviews", ("review_procedure", "review")),
    ("Monitoring plan", ("monitoring_plan",)),
    ("Incident procedure and incident register", ("incident_procedure", "incident")),
    ("Change log", ("change_log",)),
    ("Integration, adoption and funding", ("integration", "adoption_plan", "funding")),
]
_MISSING = {
    "owner": "No owner recorded.",
    "data_source": "No data source recorded.",
    "access_grant": "No access grant recorded.",
    "risk": "No risk recorded in the risk register.",
    "review_procedure": "No review procedure recorded.",
    "review": "No performed review recorded.",
    "monitoring_plan": "No monitoring plan recorded.",
    "incident_procedure": "No incident procedure recorded.",
    "incident": "No incident recorded.",
    "change_log": "No change recorded in the change log.",
    "integration": "No integration recorded.",
    "adoption_plan": "No adoption plan recorded.",
    "funding": "No funding recorded.",
}
CLASSIFICATION = (
    "stage",
    "risk_tier",
    "annex_iii_area",
    "art_6_3_rationale",
    "role",
    "dpia_status",
    "dpia_reference",
    "fria_reference",
    "eu_database_reference",
)
CONTEXT = (
    "purpose",
    "known_misuse",
    "deployment_context",
    "affected_persons",
    "organisation",
    "provider",
    "model",
    "business_value",
    "lawful_basis",
    "external_reference",
)


def gaps_of(system: SystemRecord) -> list[str]:
    """What the records lack, as sentences (the readiness scorecard says more)."""
    found = []
    roles = {e.body.get("role") for e in system.live("owner")}
    for role in ("business", "technical"):
        if role not in roles:
            found.append(f"No {role} owner recorded.")
    for kind in (
        "data_source",
        "access_grant",
        "risk",
        "review_procedure",
        "monitoring_plan",
        "incident_procedure",
        "adoption_plan",
        "funding",
    ):
        if not system.live(kind):
            found.append(_MISSING[kind])
    profile = system.profile
    if risk_tier(profile) == "unclassified":
        found.append("No EU AI Act risk classification recorded.")
    return found


def art73(body: dict[str, Any], as_of: dt.datetime) -> str:
    """Whether a serious incident was reported within its Art 73 deadline, as of then."""
    deadline = art_73_deadline(body)
    if deadline is None:
        return "not serious: no Art 73 report due"
    days = ART_73_DAYS[body.get("serious_category") or "other"]
    reported = body.get("reported_at")
    if reported:
        met = dt.datetime.fromisoformat(reported) <= deadline
        verdict = "met" if met else "MISSED"
        return (
            f"deadline {display.instant(deadline)} ({days} days): {verdict}, "
            f"reported {display.instant(reported)}"
        )
    if as_of > deadline:
        return f"deadline {display.instant(deadline)} ({days} days): MISSED, not reported"
    return f"deadline {display.instant(deadline)} ({days} days): open, not yet reported"


def kind_section(system: SystemRecord, kind: str, as_of: dt.datetime) -> list[Any]:
    out: list[Any] = []
    entries = system.live(kind)
    refs = entry_refs(system)
    out.append(p(SECTION_TITLES[kind], "h3"))
    if not entries:
        out.append(gap(_MISSING[kind]))
        return out
    if kind == "incident":
        rows = [["Incident", "Status", "Severity", "Art 73"]]
        for e in entries:
            b = e.body
            rows.append(
                [
                    f"{b.get('title')} (entry {e.entry_id})",
                    display.words(str(b.get("status"))),
                    display.plain(b.get("severity")),
                    art73(b, as_of),
                ]
            )
        out.append(table(rows, [WIDTH * 0.32, WIDTH * 0.12, WIDTH * 0.12, WIDTH * 0.44]))
        out.append(Spacer(1, 4))
    for e in entries:
        out.append(KeepTogether([entry_table(e, WIDTH, refs), Spacer(1, 5)]))
    return out


SECTION_TITLES = {
    "owner": "Owners",
    "data_source": "Data sources",
    "access_grant": "Access grants",
    "risk": "Risks",
    "review_procedure": "Review procedures",
    "review": "Performed reviews",
    "monitoring_plan": "Monitoring plans",
    "incident_procedure": "Incident procedures",
    "incident": "Incident register",
    "change_log": "Changes",
    "integration": "Integrations",
    "adoption_plan": "Adoption plans",
    "funding": "Funding",
}


def profile_table(profile: dict[str, Any], names: Iterable[str]) -> Table:
    rows: list[list[Any]] = [["Field", "Value"]]
    shown = display.fields_of("profile", profile, names=names)
    rows += [[s.label, shown_cell(s, WIDTH * 0.7)] for s in shown]
    return table(rows, [WIDTH * 0.3, WIDTH * 0.7])


def history_section(entry: EntryHistory) -> list[Any]:
    first = json.loads(entry.versions[0].body)
    name = display.entry_label(entry.kind, first, entry.entry_id)
    out: list[Any] = [p(f"{KINDS[entry.kind].title}: {name} (entry {entry.entry_id})", "h3")]
    rows: list[list[Any]] = []
    previous: Any = None
    for version in entry.versions:
        body = json.loads(version.body)
        if version.tombstone:
            change = "retired"
        elif previous is None:
            change = "created"
        else:
            changed = [display.path_label(c.path) for c in diff_bodies(previous, body)]
            change = ", ".join(changed[:8]) + (" …" if len(changed) > 8 else "") or "no change"
        rows.append(
            [
                str(version.number),
                display.instant(version.recorded_at),
                display.instant(version.effective_from),
                version.author,
                change,
                version.reason or "—",
            ]
        )
        previous = body
    header = ["v", "Recorded", "Effective", "By", "Change", "Reason"]
    widths = [WIDTH * w for w in (0.05, 0.23, 0.23, 0.15, 0.19, 0.15)]
    out += chunked(header, rows, widths)
    out.append(p(f"Body SHA-256 of the last version: {entry.last.body_hash}", "small"))
    return out


def chunked(header: list[str], rows: list[list[Any]], widths: list[float]) -> list[Any]:
    """A long table as tables of at most CHUNK rows, each with the header: a table split
    across pages is measured again at every split, which grows with its length."""
    return [table([header, *rows[i : i + CHUNK]], widths) for i in range(0, len(rows), CHUNK)]


CHUNK = 40


AUDIT_HEADER = ["Seq", "Time", "Action", "Actor", "Subject", "Event SHA-256, first 64 bits"]
AUDIT_WIDTHS = [WIDTH * w for w in (0.07, 0.23, 0.14, 0.19, 0.14, 0.21)]


def audit_rows(events: list[tuple[int, bytes]]) -> list[list[Any]]:
    """One row per event; the full bytes and hash are in ledger/events.jsonl."""
    rows: list[list[Any]] = []
    for seq, data in events:
        event = json.loads(data)
        subject = (
            f"entry {event['entry_id']} v{event.get('version')}"
            if "entry_id" in event
            else event.get("file") or event.get("email") or ""
        )
        rows.append(
            [
                str(seq),
                display.instant(event["time"]) if event.get("time") else "",
                event.get("action", ""),
                event.get("actor", ""),
                subject,
                hashlib.sha256(data).hexdigest()[:16],
            ]
        )
    return rows


def verification_section(content: PackContent) -> list[Any]:
    pin = content.pinned
    return [
        p("Verification data", "h2"),
        p(
            "Every event listed is in ledger/events.jsonl as the exact bytes the registry "
            "hashed. Its leaf hash is SHA-256(0x00 ‖ bytes); ledger/proofs.json holds its "
            "RFC 9162 inclusion proof into the signed checkpoint below. The checkpoint is a "
            "C2SP signed note by the key in keys.txt. To check all of it offline, with "
            "Python and the cryptography package only:"
        ),
        Preformatted(
            "python verify_pack.py PACK.zip --pubkey published-keys.txt", styles()["mono"]
        ),
        p("Signed checkpoint (ledger/checkpoint.txt)", "h3"),
        Preformatted(pin.note, styles()["mono"]),
        p("Verifier keys", "h3"),
        *[Paragraph(escape(k), styles()["mono"]) for k in _keys(content)],
    ]


def _keys(content: PackContent) -> list[str]:
    keys = [content.signer_key]
    if content.checkpoint_key != content.signer_key:
        keys.append(content.checkpoint_key)
    return keys


def key_line(verifier_key: str) -> Paragraph:
    """A verifier key as ``/ledger/keys`` gives it and ``keys.txt`` holds it, so that an
    auditor compares it as text with the keys they pin (``--pubkey``)."""
    return Paragraph(escape(verifier_key), styles()["mono"])


def cover(content: PackContent, title: str, subtitle: str, scope: str) -> list[Any]:
    pin = content.pinned
    rows = [
        ["Scope", scope],
        ["As of", f"{display.instant(pin.as_of)} (exactly {instant_text(pin.as_of)})"],
        ["Manifest SHA-256", Paragraph(content.manifest_sha256, styles()["mono"])],
        [
            "Ledger check",
            f"{len(content.events)} events in scope, each proven by an inclusion proof in "
            f"the signed checkpoint (checked at export); {pin.size} events recorded by the "
            "as-of instant",
        ],
        [
            "Checkpoint",
            Paragraph(f"tree size {pin.tree_size}, root {pin.root_hash}", styles()["mono"]),
        ],
        ["Signing key", key_line(content.signer_key)],
        ["Origin", content.origin],
        ["Generator", content.generator],
    ]
    if content.checkpoint_key != content.signer_key:
        rows.insert(
            6,
            ["Checkpoint key", key_line(content.checkpoint_key)],
        )
    return [
        Spacer(1, 40 * mm),
        p("Evidence pack", "title"),
        p(title, "subtitle"),
        p(subtitle, "body"),
        Spacer(1, 12 * mm),
        table(rows, [WIDTH * 0.25, WIDTH * 0.75], header=False),
        Spacer(1, 10 * mm),
        p(
            "This report is one file of a signed pack. The manifest digest above identifies "
            "the pack; manifest.sig signs it together with this PDF's own digest.",
            "small",
        ),
        NextPageTemplate("body"),
        PageBreak(),
        # Page 2: the contents, drawn once every heading's page is known (PackCanvas).
        Spacer(1, 1),
        PageBreak(),
    ]


def system_story(content: PackContent, system: SystemRecord) -> list[Any]:
    as_of = content.pinned.as_of
    profile = system.profile
    name = profile.get("name") or system.reference
    story: list[Any] = []
    story.append(p("Executive summary", "h1"))
    summary = [
        ["System", f"{name} ({system.reference})"],
        ["Stage", _profile_text(profile, "stage")],
        ["EU AI Act risk tier", _profile_text(profile, "risk_tier")],
        [
            "Records",
            f"{len(system.live())} live entries; {len(system.entries)} entries with "
            f"{system.versions} versions recorded by the as-of instant",
        ],
    ]
    story.append(table(summary, [WIDTH * 0.3, WIDTH * 0.7], header=False))
    story.append(p("Readiness", "h3"))
    story += readiness_summary(content, system)
    gaps = gaps_of(system)
    story.append(p("Gaps in the records", "h3"))
    story += [gap(g) for g in gaps] if gaps else [p("None of the expected records is missing.")]
    incidents = [e.body for e in system.live("incident") if e.body.get("serious")]
    missed = [b for b in incidents if "MISSED" in art73(b, as_of)]
    story.append(
        p(
            f"Serious incidents: {len(incidents)}; Art 73 deadlines missed: {len(missed)}.",
        )
    )
    story.append(CondPageBreak(60 * mm))
    story.append(p("Classification", "h1"))
    story.append(profile_table(profile, CLASSIFICATION))
    story.append(p("Purpose and context", "h1"))
    story.append(profile_table(profile, CONTEXT))
    for title, kinds in RECORD_CHAPTERS:
        story.append(CondPageBreak(50 * mm))
        story.append(p(title, "h1"))
        if title == "Ownership":
            roles = {e.body.get("role") for e in system.live("owner")}
            for role in ("business", "technical"):
                if role not in roles:
                    story.append(gap(f"No {role} owner recorded."))
        for kind in kinds:
            story += kind_section(system, kind, as_of)
    story.append(CondPageBreak(60 * mm))
    story.append(p("Evidence documents", "h1"))
    story += documents_section(content.documents.get(system.reference, []), content.file_limit)
    story.append(PageBreak())
    story.append(p("Crosswalk", "h1"))
    story += crosswalk(content, system)
    story.append(PageBreak())
    story.append(p("Statement of Applicability and coverage", "h1"))
    story += applicability(content, system)
    story.append(PageBreak())
    story.append(p("History of every entry", "h1"))
    for entry in system.entries:
        story += history_section(entry)
    story.append(PageBreak())
    story.append(p("Audit-trail extract", "h1"))
    story += chunked(AUDIT_HEADER, audit_rows(content.events), AUDIT_WIDTHS)
    story += verification_section(content)
    return story


def readiness_summary(content: PackContent, system: SystemRecord) -> list[Any]:
    """The scorecard as of the instant: the verdict, each area's status and why, the
    waivers counted, the promotion approval, reviews due, and the five questions."""
    card = content.readiness[system.reference]
    verdict = "ready for production" if card["ready"] else "NOT ready for production"
    out: list[Any] = [p(f"As of this instant the records show the system {verdict}.")]
    rows: list[list[Any]] = [["Area", "Status", "What the records show"]]
    for area in card["areas"]:
        why = "; ".join(c["explanation"] for c in area["criteria"] if c["status"] != "met")
        rows.append([area["title"], area["status"], why or "every criterion met"])
    out.append(table(rows, [WIDTH * w for w in (0.24, 0.1, 0.66)]))
    waivers = [a for a in card["areas"] if a.get("waiver")]
    out.append(p("Waivers", "h3"))
    if not waivers:
        out.append(p("No waiver is in force."))
    for area in waivers:
        w = area["waiver"]
        out.append(
            p(
                f"{area['title']}: waived by {display.plain(w.get('approver'))} until "
                f"{_instant_text(w.get('expires_at'))}: {display.plain(w.get('justification'))} "
                f"(entry {w['entry_id']} v{w['version']})"
            )
        )
    approval = card["approval"]
    out.append(p("Promotion approval", "h3"))
    if approval["status"] == "none":
        out.append(gap("No promotion to production has been approved."))
    else:
        line = (
            f"Approved by {display.plain(approval.get('approver'))} at "
            f"{_instant_text(approval.get('approved_at'))}"
            f", relying on {approval.get('relied_on')} entry versions: {approval['status']}."
        )
        if approval["status"] == "stale":
            changed = ", ".join(f"{c['kind']} {c['entry_id']}" for c in approval["changed"])
            out.append(gap(f"{line} Changed since: {changed}."))
        else:
            out.append(p(line))
    due = card.get("reviews_due") or []
    out.append(p("Reviews due", "h3"))
    if not due:
        out.append(p("No review procedure with a frequency is recorded."))
    for d in due:
        text = f"{d['title']}: due {d['due_on']}" + (
            f", last performed {d['last_performed']}" if d.get("last_performed") else ""
        )
        out.append(gap(text + " (overdue)") if d.get("overdue") else p(text))
    out.append(p("Before scaling: five questions", "h3"))
    rows = [["Question", "Answer from the records"]]
    rows += [[q["question"], q["answer"]] for q in card["questions"]]
    out.append(table(rows, [WIDTH * 0.35, WIDTH * 0.65]))
    return out


def file_size(size: int) -> str:
    """A size as people read it, and exactly (in bytes)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit} ({size} bytes)"
    return f"{size} bytes"


def in_pack(document: DocumentInPack) -> str:
    """Whether the pack carries the document's file, and why not."""
    if document.file:
        return "carried (files/<SHA-256>)"
    return f"WITHHELD ({document.left_out}): hash and metadata only"


def documents_section(documents: list[DocumentInPack], file_limit: int) -> list[Any]:
    """Every document the system held at the instant: what it is, when it was received
    (its ledger event), until when it is in force, and whether the pack carries it."""
    if not documents:
        return [p("No evidence document had been received for this system by this instant.")]
    out: list[Any] = [
        p(
            f"{len(documents)} documents held at this instant. Each was received in a "
            "document.receive event of the ledger (in this pack), which proves when; the "
            f"pack carries its file as files/<SHA-256> unless it is withheld (confidential), "
            f"larger than the pack's file limit of {file_limit} bytes, or no longer kept."
        )
    ]
    rows: list[list[Any]] = [["Type", "Name", "Size", "Received", "Valid until", "Withheld"]]
    for d in documents:
        name = d.name + (f" ({d.title})" if d.title else "")
        rows.append(
            [
                DOCUMENT_TYPES.get(d.document_type, d.document_type),
                name,
                file_size(d.size),
                f"{display.instant(d.received_at)} (event {d.receive_seq})",
                d.valid_until or "no end",
                display.yes_no(d.withheld),
            ]
        )
    out.append(table(rows, [WIDTH * w for w in (0.14, 0.24, 0.16, 0.24, 0.12, 0.1)]))
    out.append(p("SHA-256 and place in the pack", "h3"))
    rows = [["Name", "SHA-256", "In the pack"]]
    rows += [[d.name, d.sha256, in_pack(d)] for d in documents]
    out.append(table(rows, [WIDTH * w for w in (0.2, 0.58, 0.22)]))
    return out


def crosswalk(content: PackContent, system: SystemRecord) -> list[Any]:
    """EU AI Act, ISO/IEC 42001 and NIST AI RMF, per readiness area, to the entry
    versions and the stored documents that evidence it as of the instant."""
    card = content.readiness[system.reference]
    rows: list[list[Any]] = [["Area", "EU AI Act", "ISO 42001", "NIST AI RMF", "Evidence"]]
    for area in card["areas"]:
        fw = area.get("frameworks", {})
        evidence = sorted(
            {
                f"{ev['kind']} {ev['entry_id']} v{ev['version']}"
                for c in area["criteria"]
                for ev in c["evidence"]
            }
        )
        evidence += sorted(
            {
                f"document {d['name']} ({DOCUMENT_TYPES.get(d['document_type'], '')}, "
                f"SHA-256 {d['sha256'][:16]}…)"
                for c in area["criteria"]
                for d in c.get("documents", [])
            }
        )
        rows.append(
            [
                area["title"],
                display.plain(fw.get("eu_ai_act")),
                display.plain(fw.get("iso_42001")),
                display.plain(fw.get("nist_ai_rmf")),
                ", ".join(evidence) or "none recorded",
            ]
        )
    return [table(rows, [WIDTH * w for w in (0.2, 0.16, 0.18, 0.2, 0.26)])]


def applicability(content: PackContent, system: SystemRecord) -> list[Any]:
    """Per framework: how many items are met, partial, missing and not applicable, and
    every item with whether it applies (decided by a compliance officer, or as proposed
    from the profile), the justification, its status and the entry versions evidencing it."""
    covered = content.coverage.get(system.reference)
    if covered is None:
        return [gap("No framework coverage was assessed.")]
    out: list[Any] = []
    for framework in covered.frameworks:
        rows = covered.of(framework)
        counts = covered.counts(framework)
        found = catalogue(framework)
        out.append(p(f"{found.title} ({found.version})", "h3"))
        out.append(
            p(
                f"Met {counts['met']}, partial {counts['partial']}, missing {counts['missing']}, "
                f"not applicable {counts['not_applicable']}."
            )
        )
        lines = []
        for c in rows:
            why = c.decision.body["justification"] if c.decision else c.proposal.reason
            evidence = ", ".join(
                f"{e['kind']} {e['entry_id']} v{e['version']}" for e in c.to_dict()["evidence"]
            )
            lines.append(
                [
                    f"{c.item.ref} {c.item.title}",
                    ("yes" if c.applicable else "no") + (" (decided)" if c.decision else ""),
                    why,
                    c.status.replace("_", " "),
                    evidence or "none recorded",
                ]
            )
        out += chunked(
            ["Item", "Applies", "Justification", "Status", "Implemented by"],
            lines,
            [WIDTH * w for w in (0.26, 0.11, 0.3, 0.1, 0.23)],
        )
    return out


def coverage_line(content: PackContent, reference: str) -> str:
    covered = content.coverage.get(reference)
    if covered is None:
        return "not assessed"
    return "; ".join(
        f"{f}: {c['met']} met, {c['partial']} partial, {c['missing']} missing, "
        f"{c['not_applicable']} n/a"
        for f in covered.frameworks
        for c in [covered.counts(f)]
    )


def render_pdf(content: PackContent) -> bytes:
    as_of = content.pinned.as_of
    footer = f"Manifest SHA-256 {content.manifest_sha256[:32]}…"
    if content.scope == "system":
        system = content.systems[0]
        name = system.profile.get("name") or system.reference
        story = cover(
            content,
            f"{name}",
            f"System {system.reference}, as recorded at {display.instant(as_of)}",
            f"one system: {system.reference}",
        )
        story += system_story(content, system)
        header = f"Evidence pack · {name} ({system.reference}) · as of {display.instant(as_of)}"
        return render(
            story, header=header, footer=footer, as_of=as_of, title=f"Evidence pack: {name}"
        )
    story = cover(
        content,
        "The whole registry",
        f"{len(content.systems)} systems, as recorded at {display.instant(as_of)}",
        f"the whole registry: {len(content.systems)} systems",
    )
    story += registry_story(content)
    header = f"Evidence pack · the whole registry · as of {display.instant(as_of)}"
    return render(story, header=header, footer=footer, as_of=as_of, title="Evidence pack: registry")


def readiness_line(card: dict[str, Any]) -> str:
    if card["ready"]:
        return "ready for production"
    unmet = [a["title"] for a in card["areas"] if a["status"] in ("missing", "partial")]
    return "not ready: " + ", ".join(unmet)


def system_brief(system: SystemRecord, card: dict[str, Any]) -> list[Any]:
    """One system in the whole-registry report: a heading in the PDF outline, the
    profile's main fields, owners, entries by kind, and the gaps."""
    profile = system.profile
    owners = [
        f"{display.plain(e.body.get('role'))}: {display.plain(e.body.get('person'))}"
        for e in system.live("owner")
    ]
    kinds: dict[str, int] = {}
    for entry in system.live():
        kinds[entry.kind] = kinds.get(entry.kind, 0) + 1
    rows = [
        [
            "Stage, risk tier",
            f"{_profile_text(profile, 'stage')}, {_profile_text(profile, 'risk_tier')}",
        ],
        ["Organisation", _profile_text(profile, "organisation")],
        ["Owners", "\n".join(owners) or "not recorded"],
        ["Live entries", ", ".join(f"{KINDS[k].title}: {n}" for k, n in sorted(kinds.items()))],
        ["Versions", f"{system.versions} in {len(system.entries)} entries"],
        ["Readiness", readiness_line(card)],
    ]
    gaps = gaps_of(system)
    return [
        KeepTogether(
            [
                Paragraph(
                    escape(f"{profile.get('name') or system.reference} ({system.reference})"),
                    styles()["system"],
                ),
                table(rows, [WIDTH * 0.22, WIDTH * 0.78], header=False),
                gap("Gaps: " + " ".join(gaps)) if gaps else p("No expected record is missing."),
                Spacer(1, 6),
            ]
        )
    ]


def registry_story(content: PackContent) -> list[Any]:
    story: list[Any] = [p("Executive summary", "h1")]
    by_stage: dict[str, int] = {}
    for s in content.systems:
        stage = s.profile.get("stage") or "unknown"
        by_stage[stage] = by_stage.get(stage, 0) + 1
    rows: list[list[Any]] = [["Stage", "Systems"]]
    rows += [[stage, str(n)] for stage, n in sorted(by_stage.items())]
    story.append(table(rows, [WIDTH * 0.3, WIDTH * 0.2]))
    with_gaps = [s for s in content.systems if gaps_of(s)]
    ready = [s for s in content.systems if content.readiness[s.reference]["ready"]]
    in_use = [s for s in content.systems if s.profile.get("stage") == "production"]
    unready_in_use = [s for s in in_use if not content.readiness[s.reference]["ready"]]
    story.append(
        p(
            f"{len(content.systems)} systems; {len(ready)} ready for production by their "
            f"records; {len(unready_in_use)} of the {len(in_use)} in production are not; "
            f"{len(with_gaps)} lack some expected record. Each system's state, full history "
            "and readiness scorecard are in systems/<reference>/ in this pack."
        )
    )
    story.append(PageBreak())
    story.append(p("Index of systems", "h1"))
    rows = [["Reference", "Name", "Stage", "Risk tier", "Vers.", "Ready"]]
    for s in content.systems:
        profile = s.profile
        rows.append(
            [
                s.reference,
                _profile_text(profile, "name"),
                _profile_text(profile, "stage"),
                _profile_text(profile, "risk_tier"),
                str(s.versions),
                display.yes_no(content.readiness[s.reference]["ready"]),
            ]
        )
    story += chunked(rows[0], rows[1:], [WIDTH * w for w in (0.25, 0.37, 0.11, 0.11, 0.08, 0.08)])
    story.append(PageBreak())
    story.append(p("Systems", "h1"))
    story.append(
        p(
            "Each system in brief: its owners, what is recorded, and what is missing. "
            "The full records and history are in systems/<reference>/."
        )
    )
    for system in content.systems:
        story += system_brief(system, content.readiness[system.reference])
        story.append(p(f"Framework coverage: {coverage_line(content, system.reference)}"))
    story.append(PageBreak())
    story.append(p("Evidence documents", "h1"))
    held = [s for s in content.systems if content.documents.get(s.reference)]
    if not held:
        story.append(p("No evidence document had been received by this instant."))
    for system in held:
        story.append(p(system.reference, "h3"))
        story += documents_section(content.documents[system.reference], content.file_limit)
    story.append(PageBreak())
    story.append(p("Audit-trail extract", "h1"))
    story.append(
        p(
            f"The pack holds all {len(content.events)} events recorded by the as-of instant "
            "in ledger/events.jsonl, chained from the first, each with its inclusion proof."
        )
    )
    story += verification_section(content)
    return story
