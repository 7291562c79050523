"""How a pack writes its JSON and lays out the text of evidence.pdf's tables: the same
bytes as the documented layout, and cell text broken into lines the column holds."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

from pypdf import PdfReader
from reportlab.pdfbase import pdfmetrics

from registry.evidence.pack import catalog_members, dumps
from registry.evidence.pdf import CELL_SIZE, PackFont, fonts, lines_of, render, table
from tests.evidence.conftest import do_export


def _documented(value: object) -> bytes:
    """docs/evidence-format.md: sorted keys, two-space indentation, UTF-8, final newline."""
    return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


def test_json_members_are_written_as_documented():
    value = {
        "z": [],
        "a": {},
        "text": 'é ü \u2028 \x7f \x01 "quoted" \\ / \t\n\r\b\f',
        "nested": [{"b": None, "a": True, "c": [1, -2, 0.5, 123456789.25]}],
        "names": ["Zoë", "Ærø", "日本"],
    }
    assert dumps(value) == _documented(value)
    # What orjson refuses (an integer beyond 64 bits) is written by the standard library.
    huge = {"n": 2**70}
    assert dumps(huge) == _documented(huge)


def test_the_catalogues_are_written_once_and_as_documented():
    members = catalog_members()
    assert catalog_members() is members  # once per process
    for name, data in members:
        assert name.startswith("oscal/catalogs/") and name.endswith(".json")
        assert data == _documented(json.loads(data))


def _width(text: str, font: str) -> float:
    return pdfmetrics.stringWidth(text, font, CELL_SIZE)


def test_cell_text_breaks_between_words_and_inside_words_too_wide():
    font = fonts()["Regular"]
    text = "Risk tier not classified yet: high-risk obligations are assumed until it is."
    lines = lines_of(text, font, 100.0).split("\n")
    assert len(lines) > 1
    assert " ".join(lines) == text  # nothing lost, nothing reordered
    assert all(_width(line, font) <= 100.0 for line in lines)
    digest = "ab" * 32  # a SHA-256: one word wider than the column
    broken = lines_of(f"file {digest} kept", font, 60.0).split("\n")
    assert "".join(broken).replace(" ", "") == f"file{digest}kept"
    assert all(_width(line, font) <= 60.0 for line in broken)
    # The text's own line breaks (and empty lines) stay.
    assert lines_of("one\n\ntwo", font, 200.0) == "one\n\ntwo"
    # A character wider than the column still makes progress (one per line).
    assert lines_of("WW", font, 1.0) == "W\nW"


def test_a_cell_longer_than_a_page_runs_on_over_the_next_pages():
    words = " ".join(f"word{i}" for i in range(3000))
    pdf = render(
        [table([["Field", "Value"], ["long", words]], [100.0, 300.0])],
        header="header",
        footer="footer",
        as_of=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        title="t",
    )
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 3
    text = "".join(page.extract_text() for page in reader.pages)
    assert "word0 " in text and "word2999" in text and "word1500" in text


def test_members_compressed_already_are_stored_the_others_deflated(app, examples):
    exported = do_export(app, examples, "demo-benefits-triage")
    with zipfile.ZipFile(exported.path) as z:
        methods = {info.filename: info.compress_type for info in z.infolist()}
        assert methods.pop("evidence.pdf") == zipfile.ZIP_STORED
        assert z.read("evidence.pdf").startswith(b"%PDF-")
    assert methods and all(
        method == zipfile.ZIP_STORED if name.startswith("files/") else zipfile.ZIP_DEFLATED
        for name, method in methods.items()
    )


def test_a_table_sets_its_text_cells_in_their_fonts_beside_nested_cells():
    """Text cells are set in one text object per table (pdf.PackTable), nested tables
    and paragraphs by reportlab: every cell reads back, in its row and column, the header
    in the bold font, the body in the regular one, a cell's lines one below the other."""
    from reportlab.platypus import Paragraph

    from registry.evidence.pdf import styles

    nested = table([["Inner head", "Other"], ["inner one", "inner two"]], [80.0, 80.0])
    rows = [
        ["Head A", "Head B"],
        ["first\nsecond line", nested],
        [Paragraph("a paragraph", styles()["cell"]), "last"],
        [None, "after an empty cell"],
    ]
    pdf = render(
        [table(rows, [120.0, 180.0])],
        header="header",
        footer="footer",
        as_of=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        title="t",
    )
    placed: dict[str, tuple[float, float, str]] = {}

    def seen(text, cm, tm, font, size):
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            placed[text.strip()] = (x, y, font["/BaseFont"])

    PdfReader(io.BytesIO(pdf)).pages[0].extract_text(visitor_text=seen)
    bold, regular = fonts()["Bold"], fonts()["Regular"]
    names = {"Head A": bold, "Head B": bold, "Inner head": bold, "Other": bold}
    for text in ("first", "second line", "inner one", "inner two", "a paragraph", "last"):
        names[text] = regular
    for text, font in names.items():
        base_font = placed[text][2]
        assert base_font.endswith("+" + pdfmetrics.getFont(font).face.name.decode()), text
    x, y = {t: v[0] for t, v in placed.items()}, {t: v[1] for t, v in placed.items()}
    assert x["Head A"] == x["first"] == x["second line"] == x["a paragraph"]
    assert x["Head B"] == x["last"] < x["Inner head"] < x["Other"]
    assert y["Head A"] == y["Head B"] > y["first"]
    assert y["first"] - y["Inner head"] == 2  # the inner table's own padding
    assert y["first"] - y["second line"] == 10  # the cells' leading
    assert y["second line"] > y["a paragraph"] == y["last"]
    assert x["after an empty cell"] == x["last"]
    assert y["last"] - y["after an empty cell"] == 10 + 4  # a line and its padding
    assert "None" not in placed


def test_the_pack_fonts_encode_text_as_reportlab_does():
    """PackFont encodes a string of printable ASCII as its own bytes: the same subsets
    and bytes as reportlab's TTFont, whatever came before in the document."""
    from reportlab.pdfbase.ttfonts import TTFont

    path = pdfmetrics.getFont(fonts()["Regular"]).face.filename
    ours, theirs = PackFont("TestPack", path), TTFont("TestReportlab", path, asciiReadable=1)

    class Document:  # (the fonts keep their state per document, weakly)
        pass

    texts = [
        "plain ASCII, digits 0123 and ~{}",
        "",
        "Zoë, Ærø, naïve: Latin-1",
        "tab\there",
        "nbsp\u00a0here",
        "\x7f delete",
        "ASCII again after others",
        "".join(chr(c) for c in range(0x400, 0x4FF)),  # Cyrillic: a second subset
        "日本 (no glyph) and ASCII",
        "back to ASCII",
    ]
    for order in (texts, texts[::-1]):
        doc = Document()
        for text in order:
            assert ours.splitString(text, doc) == theirs.splitString(text, doc), text
