"""Widgets that stay cheap at 10 Hz with hundreds of rows.

A ``RowsView`` is a Line-API scroll view: each row is rendered once into a ``Strip`` and kept
until that row's cells change; an update repaints only the changed lines, and nothing when
nothing changed (a DataTable re-renders every visible row on any cell update: textual issues
6457, 5273). Cells are ``(text, style)`` pairs; widths are fixed per column, so no update ever
recomputes a layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

Cell = tuple[str, str]  # (text, Rich style)
Row = tuple[Cell, ...]


@dataclass(frozen=True)
class Column:
    label: str
    width: int
    align: Literal["left", "right"] = "right"


def fit(text: str, width: int, align: str) -> str:
    if len(text) > width:
        return text[: max(0, width - 1)] + "…" if width > 1 else text[:width]
    return text.rjust(width) if align == "right" else text.ljust(width)


def header_text(columns: Sequence[Column]) -> Text:
    line = " ".join(fit(c.label, c.width, c.align) for c in columns)
    return Text(line, style="bold", no_wrap=True, overflow="crop")


class RowsView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    RowsView { height: 1fr; scrollbar-size-vertical: 1; scrollbar-size-horizontal: 1; }
    RowsView:focus { background-tint: $foreground 5%; }
    """

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.line_width = sum(c.width for c in self.columns) + len(self.columns) - 1
        self.rows: list[Row] = []
        self._strips: dict[int, Strip] = {}  # row -> its cells, rendered
        self._finished: dict[int, tuple[object, Strip]] = {}  # row -> (crop and style, line)
        self._line_style = Style()
        self.renders = 0  # rows rendered into strips (the benchmark reads it)

    def set_rows(self, rows: list[Row]) -> None:
        old = self.rows
        if rows == old:
            return
        self.rows = rows
        if len(rows) != len(old):
            self._strips.clear()
            self.virtual_size = Size(self.line_width, len(rows))
            self.refresh()
            return
        changed = [i for i, (a, b) in enumerate(zip(old, rows, strict=True)) if a != b]
        for i in changed:
            self._strips.pop(i, None)
        top = self.scroll_offset.y
        visible = [i for i in changed if top <= i < top + self.size.height]
        if len(visible) > 8:
            self.refresh()
        else:
            for i in visible:
                self.refresh_lines(i)

    def refresh_lines(self, y_start: int, line_count: int = 1) -> None:
        # The rows' own width only: the scrollbars beside them need no repaint.
        width = min(self.line_width, self.scrollable_content_region.width)
        self.refresh(Region(0, y_start - self.scroll_offset.y, width, line_count))

    def _strip(self, i: int) -> Strip:
        strip = self._strips.get(i)
        if strip is None:
            segments = []
            for n, (col, (text, style)) in enumerate(zip(self.columns, self.rows[i], strict=False)):
                if n:
                    segments.append(Segment(" "))
                segments.append(Segment(fit(text, col.width, col.align), Style.parse(style)))
            strip = self._strips[i] = Strip(segments, self.line_width)
            self.renders += 1
        return strip

    def render_lines(self, crop: Region) -> list[Strip]:
        # The widget's style (background, focus tint) once per repaint, not once per line: it
        # walks the ancestors, and costs more than the line itself.
        self._line_style = self.rich_style
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        style = self._line_style
        if i >= len(self.rows):
            return Strip.blank(width, style)
        key = (scroll_x, width, style)
        done = self._finished.get(i)
        if done is not None and done[0] == key and i in self._strips:
            return done[1]
        strip = self._strip(i).crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
        self._finished[i] = (key, strip)
        return strip


class TablePanel(Vertical):
    """A bordered panel: a fixed header line over a ``RowsView``."""

    DEFAULT_CSS = """
    TablePanel { border: round $primary-darken-2; height: 1fr; }
    TablePanel > .header { height: 1; }
    """

    def __init__(self, title: str, columns: Sequence[Column], *, id: str) -> None:
        super().__init__(id=id)
        self.border_title = title
        self.columns = tuple(columns)
        self.view = RowsView(self.columns, id=f"{id}-rows")

    def compose(self):  # type: ignore[override]
        yield Static(header_text(self.columns), classes="header")
        yield self.view

    def set_rows(self, rows: list[Row]) -> None:
        self.view.set_rows(rows)


class TextPanel(Static):
    """A bordered block of text, repainted only when its text changes."""

    DEFAULT_CSS = """
    TextPanel { border: round $primary-darken-2; height: 1fr; }
    """

    def __init__(self, title: str, *, id: str) -> None:
        super().__init__("", id=id)
        self.border_title = title
        self._shown: object = None
        self._lines = -1

    def show(self, text: Text) -> None:
        key = (text.plain, tuple(text.spans))
        if key != self._shown:
            # A new layout only when the number of lines changed (an auto height may change):
            # a layout of the whole screen costs more than everything else in a refresh.
            lines = text.plain.count("\n")
            self.update(text, layout=lines != self._lines)
            self._shown, self._lines = key, lines
