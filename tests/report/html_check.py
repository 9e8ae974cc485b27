"""A strict reading of an HTML document with Python's html.parser: balanced elements,
images, links and text, for the report tests."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class Img:
    src: str
    alt: str

    def png(self) -> bytes:
        """The decoded PNG of a ``data:image/png;base64,`` source."""
        prefix = "data:image/png;base64,"
        assert self.src.startswith(prefix), self.src[:80]
        try:
            data = base64.b64decode(self.src[len(prefix):], validate=True)
        except binascii.Error as e:
            raise AssertionError(f"image {self.alt!r}: bad base64 ({e})") from None
        assert data.startswith(PNG_SIGNATURE), f"image {self.alt!r} is not a PNG"
        return data


@dataclass
class Document:
    doctype: str = ""
    errors: list[str] = field(default_factory=list)
    images: list[Img] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    tags: dict[str, int] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)
    h2: list[str] = field(default_factory=list)
    text: str = ""


class StrictParser(HTMLParser):
    """Records every element and fails on unbalanced or misnested end tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.doc = Document()
        self.stack: list[str] = []
        self._texts: list[str] = []
        self._in_h2 = False
        self._h2: list[str] = []

    def handle_decl(self, decl: str) -> None:
        self.doc.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.doc.tags[tag] = self.doc.tags.get(tag, 0) + 1
        if "id" in a:
            self.doc.ids.append(a["id"] or "")
        for name in ("src", "href", "action", "poster", "data"):
            if a.get(name):
                self.doc.urls.append(a[name])
        if tag == "img":
            self.doc.images.append(Img(a.get("src") or "", a.get("alt") or ""))
        if tag == "h2":
            self._in_h2, self._h2 = True, []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            open_tag = self.stack[-1] if self.stack else ""
            self.doc.errors.append(f"line {self.getpos()[0]}: </{tag}> closes <{open_tag}>")
            if tag in self.stack:
                while self.stack.pop() != tag:
                    pass
            return
        self.stack.pop()
        if tag == "h2":
            self._in_h2 = False
            self.doc.h2.append(" ".join("".join(self._h2).split()))

    def handle_data(self, data: str) -> None:
        self._texts.append(data)
        if self._in_h2:
            self._h2.append(data)


def parse(html: str) -> Document:
    parser = StrictParser()
    parser.feed(html)
    parser.close()
    doc = parser.doc
    doc.text = " ".join(" ".join(parser._texts).split())
    if parser.stack:
        doc.errors.append(f"unclosed elements at the end: {parser.stack}")
    return doc
