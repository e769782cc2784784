"""The graph's canvas (`GraphCanvasView`: zoom, pan, pick, tooltips, arrow keys) and the writers of its pictures
(PNG, SVG); gui.graph_view puts a toolbar round it."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QWheelEvent
from PySide6.QtSvg import QSvgGenerator
from PySide6.QtWidgets import QGraphicsScene, QGraphicsView, QToolTip, QWidget

MIN_ZOOM, MAX_ZOOM = 0.005, 12.0
EXPORT_MAX_PIXELS = 6000   # the longer side of a saved PNG
FIT_KEY = Qt.Key_F         # Fit, on the canvas (Ctrl+0 is the Overview page's)
ARROWS = {Qt.Key_Left: (-1, 0), Qt.Key_Right: (1, 0), Qt.Key_Up: (0, -1), Qt.Key_Down: (0, 1)}


class GraphCanvasView(QGraphicsView):
    """The canvas: wheel zoom about the cursor, drag to pan, click to pick, arrow keys to step. Emits
    `zoom_changed(float)` with the new scale, `scene_clicked(QPointF)` for a click that did not drag,
    `user_moved()` when the user zooms or pans (the picture then stops following the window's size),
    `resized()`, `arrow_pressed(int, int)` with an arrow key's direction (dx, dy), `fit_pressed()` (F) and
    `escape_pressed()`."""

    zoom_changed = Signal(float)
    scene_clicked = Signal(QPointF)
    user_moved = Signal()
    resized = Signal()
    arrow_pressed = Signal(int, int)
    fit_pressed = Signal()
    escape_pressed = Signal()

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None):
        super().__init__(scene, parent)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.BoundingRectViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.DontSavePainterState | QGraphicsView.DontAdjustForAntialiasing)
        self.setBackgroundBrush(QColor("#ffffff"))
        self.setFocusPolicy(Qt.StrongFocus)
        self._pressed_at = None
        self.tooltip_for = lambda scene_point: None  # the GraphView says what a point's node is

    def viewportEvent(self, event) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.ToolTip:
            text = self.tooltip_for(self.mapToScene(event.pos()))
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def scale_factor(self) -> float:
        """Return the current zoom (scene units to pixels)."""
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        """Zoom by `factor` about the anchor (the cursor for the wheel), within MIN_ZOOM..MAX_ZOOM."""
        current = self.scale_factor()
        factor = min(max(factor, MIN_ZOOM / current), MAX_ZOOM / current)
        self.scale(factor, factor)
        self.zoom_changed.emit(self.scale_factor())

    def fit(self, rect: QRectF) -> None:
        """Show all of `rect`, at most at 1.5× zoom."""
        if rect.isEmpty():
            return
        self.fitInView(rect, Qt.KeepAspectRatio)
        if self.scale_factor() > 1.5:
            self.resetTransform()
            self.scale(1.5, 1.5)
            self.centerOn(rect.center())
        self.zoom_changed.emit(self.scale_factor())

    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y() or event.angleDelta().x()
        if delta:
            self.zoom_by(1.0015 ** delta)
            self.user_moved.emit()
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.resized.emit()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        plain = not event.modifiers() & (Qt.ControlModifier | Qt.AltModifier | Qt.ShiftModifier)
        step = ARROWS.get(event.key())
        if plain and step is not None:
            self.arrow_pressed.emit(*step)
        elif plain and event.key() == FIT_KEY:
            self.fit_pressed.emit()
        elif plain and event.key() == Qt.Key_Escape:
            self.escape_pressed.emit()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def mousePressEvent(self, event) -> None:
        self._pressed_at = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        pressed, self._pressed_at = self._pressed_at, None
        super().mouseReleaseEvent(event)
        if pressed is None:
            return
        if (event.position() - pressed).manhattanLength() < 5:
            if event.button() == Qt.LeftButton:
                self.scene_clicked.emit(self.mapToScene(event.position().toPoint()))
        else:
            self.user_moved.emit()


def save_picture(scene: QGraphicsScene, source: QRectF, path: str | Path, set_zoom, zoom: float) -> Path:
    """Save `source` of the scene as PNG or SVG (by the extension), at most EXPORT_MAX_PIXELS on its longer
    side, and return the path; `set_zoom(scale)` sets the labels' level of detail for the picture and is given
    `zoom` back after. Raises ValueError for another extension, OSError when the file cannot be written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ValueError(f"cannot save {path.name}: use .png or .svg")
    scale = min(2.0, EXPORT_MAX_PIXELS / max(source.width(), source.height(), 1))
    size = QSize(max(1, round(source.width() * scale)), max(1, round(source.height() * scale)))
    set_zoom(scale)
    try:
        (write_png if suffix == ".png" else write_svg)(scene, source, size, path)
    finally:
        set_zoom(zoom)
    return path


def write_png(scene: QGraphicsScene, source: QRectF, size: QSize, path: Path) -> None:
    """Render `source` of the scene into a PNG of `size`. Raises OSError when it cannot be written."""
    image = QImage(size, QImage.Format_ARGB32_Premultiplied)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setRenderHint(QPainter.TextAntialiasing)
    scene.render(painter, QRectF(0, 0, size.width(), size.height()), source)
    painter.end()
    if not image.save(str(path), "PNG"):
        raise OSError(f"cannot write {path}")


def write_svg(scene: QGraphicsScene, source: QRectF, size: QSize, path: Path) -> None:
    """Render `source` of the scene into an SVG drawing of `size`. Raises OSError when it cannot be written."""
    generator = QSvgGenerator()
    generator.setFileName(str(path))
    generator.setSize(size)
    generator.setViewBox(QRectF(0, 0, size.width(), size.height()))
    generator.setTitle("Estate Mapper dependency graph")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"cannot write {path}")
    scene.render(painter, QRectF(0, 0, size.width(), size.height()), source)
    painter.end()
    if not path.exists():
        raise OSError(f"cannot write {path}")
