"""Face boxes: an axis-aligned box in pixels with a score."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels, ``(x0, y0)`` top-left, ``(x1, y1)`` bottom-right, with a score."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return (self.x0 + self.x1) / 2, (self.y0 + self.y1) / 2

    def iou(self, other: Box) -> float:
        """Intersection over union with ``other``."""
        w = min(self.x1, other.x1) - max(self.x0, other.x0)
        h = min(self.y1, other.y1) - max(self.y0, other.y0)
        inter = max(0.0, w) * max(0.0, h)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def transformed(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Box:
        """``(x * scale + dx, y * scale + dy)`` for both corners."""
        return Box(self.x0 * scale + dx, self.y0 * scale + dy, self.x1 * scale + dx, self.y1 * scale + dy, self.score)

    @staticmethod
    def square(cx: float, cy: float, side: float, score: float = 1.0) -> Box:
        half = side / 2
        return Box(cx - half, cy - half, cx + half, cy + half, score)

    def as_list(self, digits: int = 1) -> list[float]:
        return [round(v, digits) for v in (self.x0, self.y0, self.x1, self.y1)]
