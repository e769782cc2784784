"""The Overview page's charts, drawn with QPainter: horizontal bars (`BarChartView`) and the wave plan as a timeline
(`WaveTimelineView`). Every bar, wave and group is clickable and has a tool tip; `*_rect` methods say where each
one is drawn (tests click there)."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

BAR_COLOUR = "#4C78A8"
GROUP_COLOURS = ("#4C78A8", "#72B7B2", "#54A24B", "#EECA3B", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC")
SHARED_COLOUR = "#888888"   # wave 0: shared infrastructure
MAX_GROUP_BLOCKS = 8        # a wave shows this many groups, then "+N more"


@dataclass(frozen=True, slots=True)
class Bar:
    key: object               # what a click reports
    label: str
    value: int
    colour: str = BAR_COLOUR
    text_colour: str = "#000000"
    tooltip: str | None = None


class BarChartView(QWidget):
    """Labelled horizontal bars, one a row, each with its value; a click on a row emits bar_clicked(key)."""
    bar_clicked = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bars: tuple[Bar, ...] = ()
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_bars(self, bars) -> None:
        self.bars = tuple(bars)
        self.updateGeometry()
        self.update()

    def _row_height(self) -> int:
        return self.fontMetrics().height() + 10

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(260, max(1, len(self.bars)) * self._row_height() + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(160, self.sizeHint().height())

    def bar_rect(self, key) -> QRect:
        """Return the clickable row of the bar whose key is `key` (an empty QRect if there is none)."""
        for number, bar in enumerate(self.bars):
            if bar.key == key:
                return QRect(0, 2 + number * self._row_height(), self.width(), self._row_height())
        return QRect()

    def _bar_at(self, point: QPoint) -> Bar | None:
        number = (point.y() - 2) // self._row_height()
        return self.bars[number] if 0 <= number < len(self.bars) and point.y() >= 2 else None

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        metrics, height = self.fontMetrics(), self._row_height()
        widest = max((metrics.horizontalAdvance(b.label) for b in self.bars), default=0)
        label_width = min(self.width() // 2, widest + 8)
        value_width = max((metrics.horizontalAdvance(f"{b.value:,}") for b in self.bars), default=0) + 8
        room = max(1, self.width() - label_width - value_width - 4)
        largest = max((b.value for b in self.bars), default=0) or 1
        for number, bar in enumerate(self.bars):
            top = 2 + number * height
            painter.setPen(self.palette().text().color())
            painter.drawText(QRect(0, top, label_width - 6, height), Qt.AlignmentFlag.AlignRight |
                             Qt.AlignmentFlag.AlignVCenter, metrics.elidedText(bar.label, Qt.TextElideMode.ElideRight,
                                                                               label_width - 6))
            length = round(room * bar.value / largest)
            if bar.value and length < 2:
                length = 2
            painter.fillRect(QRect(label_width, top + 3, length, height - 6), QColor(bar.colour))
            painter.setPen(self.palette().text().color())
            painter.drawText(QRect(label_width + length + 4, top, value_width, height),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{bar.value:,}")
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        bar = self._bar_at(event.position().toPoint())
        if bar is not None and event.button() == Qt.MouseButton.LeftButton:
            self.bar_clicked.emit(bar.key)

    def event(self, event) -> bool:
        if event.type() == event.Type.ToolTip:
            bar = self._bar_at(event.pos())
            if bar is not None:
                QToolTip.showText(event.globalPos(),
                                  bar.tooltip or f"{bar.label}: {bar.value:,} — click to list them", self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)


@dataclass(frozen=True, slots=True)
class WaveColumn:
    wave: object                              # the wave's number
    hosts: int
    groups: tuple[tuple[str, str, int, str], ...]   # (group id, name, hosts, its tool tip)
    reasons: str = ""                         # the wave's reasons (the header's tool tip)
    tier: str | None = None
    group_count: int | None = None            # its move groups (None: one a block)


class WaveTimelineView(QWidget):
    """The wave plan left to right: a column per wave (its number, groups and hosts), the groups stacked in it, each
    as tall as its hosts. A click on a wave's header emits wave_clicked(wave), on a group block_clicked(group id)."""
    wave_clicked = Signal(object)
    block_clicked = Signal(str)
    COLUMN_WIDTH, GAP, BODY_HEIGHT = 150, 10, 130

    def __init__(self, parent=None):
        super().__init__(parent)
        self.columns: tuple[WaveColumn, ...] = ()
        self._areas: list[tuple[QRect, str, object, str]] = []   # (rect, "wave"|"group", key, tool tip)
        self.setMouseTracking(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def set_waves(self, columns) -> None:
        self.columns = tuple(columns)
        self._layout()
        self.updateGeometry()
        self.setMinimumWidth(self.sizeHint().width())
        self.update()

    def _header_height(self) -> int:
        return self.fontMetrics().height() * 2 + 8

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(max(1, len(self.columns)) * (self.COLUMN_WIDTH + self.GAP),
                     self._header_height() + self.BODY_HEIGHT + 8)

    def wave_rect(self, wave) -> QRect:
        """Return where wave `wave`'s header is drawn (an empty QRect if there is no such wave)."""
        return next((r for r, kind, key, _ in self._areas if kind == "wave" and key == wave), QRect())

    def block_rect(self, key: str) -> QRect:
        """Return where block `key` is drawn (an empty QRect if it is not drawn)."""
        return next((r for r, kind, k, _ in self._areas if kind == "group" and k == key), QRect())

    def _layout(self) -> None:
        self._areas = []
        header = self._header_height()
        largest = max((c.hosts for c in self.columns), default=0) or 1
        line = self.fontMetrics().height() + 4
        for number, column in enumerate(self.columns):
            left = number * (self.COLUMN_WIDTH + self.GAP)
            self._areas.append((QRect(left, 0, self.COLUMN_WIDTH, header), "wave", column.wave,
                                column.reasons or f"Wave {column.wave}"))
            top = header + 4
            bottom, drawn = header + 4 + self.BODY_HEIGHT, 0
            # Heights follow hosts across the plan; a group is never thinner than a line of text.
            for group_id, _name, hosts, tooltip in column.groups[:MAX_GROUP_BLOCKS]:
                height = min(max(line, round(self.BODY_HEIGHT * hosts / largest)), bottom - top)
                if height < line or (drawn + 1 < len(column.groups) and bottom - top - height < line):
                    break
                self._areas.append((QRect(left, top, self.COLUMN_WIDTH, height - 2), "group", group_id, tooltip))
                top, drawn = top + height, drawn + 1
            if drawn < len(column.groups):
                # The rest of the wave: a click opens the whole wave.
                self._areas.append((QRect(left, min(top, bottom - line), self.COLUMN_WIDTH, line), "more", column.wave,
                                    f"{len(column.groups) - drawn} more group(s): click to list the wave"))

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        metrics = self.fontMetrics()
        bold = QFont(self.font())
        bold.setBold(True)
        text = self.palette().text().color()
        names = {g[0]: (c.wave, position, g) for c in self.columns for position, g in enumerate(c.groups)}
        for rect, kind, key, _tip in self._areas:
            if kind == "wave":
                column = next(c for c in self.columns if c.wave == key)
                groups = len(column.groups) if column.group_count is None else column.group_count
                painter.fillRect(rect, QColor("#E8EEF6"))
                painter.setPen(text)
                painter.setFont(bold)
                title = f"Wave {key}" + (f" · {column.tier}" if column.tier else "")
                painter.drawText(rect.adjusted(6, 2, -4, -rect.height() // 2), Qt.AlignmentFlag.AlignLeft |
                                 Qt.AlignmentFlag.AlignVCenter, metrics.elidedText(title, Qt.TextElideMode.ElideRight,
                                                                                   rect.width() - 10))
                painter.setFont(self.font())
                painter.drawText(rect.adjusted(6, rect.height() // 2 - 2, -4, -2), Qt.AlignmentFlag.AlignLeft |
                                 Qt.AlignmentFlag.AlignVCenter,
                                 f"{groups:,} group{'s' * (groups != 1)} · "
                                 f"{column.hosts:,} host{'s' * (column.hosts != 1)}")
            elif kind == "group":
                wave, position, (_gid, name, hosts, _t) = names[key]
                colour = QColor(SHARED_COLOUR if wave == 0 else GROUP_COLOURS[position % len(GROUP_COLOURS)])
                painter.fillRect(rect, colour)
                painter.setPen(QPen(QColor("#000000" if colour.lightness() > 120 else "#FFFFFF")))
                painter.drawText(rect.adjusted(5, 0, -4, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 metrics.elidedText(f"{name} ({hosts})", Qt.TextElideMode.ElideRight, rect.width() - 9))
            else:
                painter.setPen(text)
                painter.drawText(rect.adjusted(5, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                                 "+ more…")
        painter.end()

    def _area_at(self, point: QPoint):
        return next(((kind, key, tip) for rect, kind, key, tip in self._areas if rect.contains(point)), None)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        area = self._area_at(event.position().toPoint())
        if area is None or event.button() != Qt.MouseButton.LeftButton:
            return
        kind, key, _tip = area
        if kind == "group":
            self.block_clicked.emit(key)
        else:
            self.wave_clicked.emit(key)

    def event(self, event) -> bool:
        if event.type() == event.Type.ToolTip:
            area = self._area_at(event.pos())
            if area is not None:
                QToolTip.showText(event.globalPos(), area[2], self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)
