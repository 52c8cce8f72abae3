"""A tiny HTML tree for page tests (stdlib ``html.parser``): find elements by tag and attributes,
read their text. Enough to assert on pages without matching substrings."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

VOID = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
    "track", "wbr",
}  # fmt: skip


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None = None) -> None:
        self.tag = tag
        self.attrs = attrs
        self.parent = parent
        self.children: list[Element | str] = []

    def get(self, name: str, default: str | None = None) -> str | None:
        return self.attrs.get(name, default)

    def __getitem__(self, name: str) -> str:
        return self.attrs[name]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text)
        return " ".join(" ".join(parts).split())

    def iter(self) -> Any:
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str | bool) -> list[Element]:
        """``attrs``: ``class_`` matches one class; ``True`` means present; ``_`` becomes ``-``."""
        found = []
        for element in self.iter():
            if tag is not None and element.tag != tag:
                continue
            if all(_matches(element, key, value) for key, value in attrs.items()):
                found.append(element)
        return found

    def find(self, tag: str | None = None, **attrs: str | bool) -> Element | None:
        matches = self.find_all(tag, **attrs)
        return matches[0] if matches else None

    def one(self, tag: str | None = None, **attrs: str | bool) -> Element:
        matches = self.find_all(tag, **attrs)
        assert len(matches) == 1, f"expected one <{tag} {attrs}>, found {len(matches)}"
        return matches[0]

    def __repr__(self) -> str:
        return f"<{self.tag} {self.attrs}>"


def _matches(element: Element, key: str, value: str | bool) -> bool:
    name = "class" if key == "class_" else key.rstrip("_").replace("_", "-")
    actual = element.attrs.get(name)
    if value is True:
        return actual is not None
    if value is False:
        return actual is None
    if name == "class":
        return value in (actual or "").split()
    return actual == value


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {key: value or "" for key, value in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(
            Element(tag, {key: value or "" for key, value in attrs}, self.current)
        )

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse(html: str) -> Element:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
