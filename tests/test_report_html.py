"""The HTML report as a file a department head opens: data is escaped wherever it lands
(text, attributes, the SVG charts), and the page needs nothing from outside (its
stylesheet and charts are inline)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from tests.srz_cli_helpers import BUNDLED_PLAN, SAMPLE_INSTITUTIONS, srz

# A city whose name is markup, an entity and a quote: it must come back as this text.
CITY = "南宁<script>alert('x')</script>&amp;市"
NOW = "2023-11-01T10:00"
REPORT_AT = "2023-12-20T10:00"
SVG_NS = {"s": "http://www.w3.org/2000/svg"}


class _Page(HTMLParser):
    """Tags, the text of the city cells, the row and bar ``data-city`` attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.row_cities: list[str] = []
        self.cell_cities: list[str] = []
        self.bar_cities: list[str] = []
        self._in_city_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "tr" and a.get("data-city"):
            self.row_cities.append(a["data-city"] or "")
        if tag == "rect" and a.get("class") == "bar":
            self.bar_cities.append(a.get("data-city") or "")
        self._in_city_cell = tag == "td" and a.get("class") == "city"

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._in_city_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_city_cell:
            self.cell_cities.append(data)


def _html_report(db_url: str, path: Path, *args: str) -> str:
    srz(db_url, "report", "--now", REPORT_AT, "--format", "html", "-o", str(path), *args)
    return path.read_text(encoding="utf-8")


def _svgs(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)


def test_names_with_markup_are_escaped_everywhere(db_url: str, tmp_path: Path) -> None:
    plan = BUNDLED_PLAN.read_text(encoding="utf-8")
    assert "{name: 南宁市," in plan
    (tmp_path / "plan.yaml").write_text(
        plan.replace("{name: 南宁市,", f'{{name: "{CITY}",', 1), encoding="utf-8"
    )
    institutions = SAMPLE_INSTITUTIONS.read_text(encoding="utf-8")
    assert "\n南宁市," in institutions
    (tmp_path / "institutions.csv").write_text(
        institutions.replace("\n南宁市,", f"\n{CITY},"), encoding="utf-8"
    )
    srz(db_url, "init")
    srz(db_url, "plan", "load", str(tmp_path / "plan.yaml"), "--now", NOW)
    srz(db_url, "org", "import", str(tmp_path / "institutions.csv"), "--now", NOW)

    html = _html_report(db_url, tmp_path / "r.html")
    page = _Page()
    page.feed(html)
    assert "script" not in page.tags
    assert "<script" not in html
    assert page.row_cities[0] == CITY and page.cell_cities[0] == CITY
    assert page.bar_cities.count(CITY) == 2  # one bar in each chart
    for svg in _svgs(html):  # well-formed XML: every & and < in data was escaped
        root = ET.fromstring(svg)
        labels = [t.text for t in root.findall("s:text", SVG_NS)]
        assert CITY in labels
        bars = root.findall(".//s:rect[@class='bar']", SVG_NS)
        assert bars[0].get("data-city") == CITY

    # The one-city report has no region cards, and escapes the same way.
    html = _html_report(db_url, tmp_path / "city.html", "--city", CITY)
    page = _Page()
    page.feed(html)
    assert page.row_cities == [CITY] and "<script" not in html and "全区概况" not in html


def test_the_page_is_self_contained(demo_db_url: str, tmp_path: Path) -> None:
    html = _html_report(demo_db_url, tmp_path / "r.html")
    page = _Page()
    page.feed(html)
    assert page.tags.count("style") == 1
    style = html[html.index("<style>") + len("<style>") : html.index("</style>")]
    assert "font-family" in style and "@media print" in style
    assert '"Microsoft YaHei"' in style  # the stylesheet is inlined as is, not escaped
    assert len(_svgs(html)) == 2 and page.tags.count("svg") == 2
    for forbidden in ("link", "script", "img", "iframe", "object", "embed"):
        assert forbidden not in page.tags, forbidden
    lowered = html.lower()
    for needle in ('href="http', "href='http", "<link", "rel=stylesheet", 'rel="stylesheet"',
                   "src=", "@import", "url("):  # fmt: skip
        assert needle not in lowered, needle
    # Nothing is fetched: the only URL is the SVG namespace name.
    assert re.findall(r"https?://[^\s\"'<>]+", html) == ["http://www.w3.org/2000/svg"] * 2
