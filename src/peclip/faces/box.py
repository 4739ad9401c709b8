"""Face boxes: an axis-aligned box in pixels with a score and, from a landmark detector, 5 landmarks."""

from __future__ import annotations

from dataclasses import dataclass

#: the five landmarks of a CNN face detector, in image order: the eye on the image's left, the other eye,
#: the nose tip, the mouth corner on the image's left, the other mouth corner
LANDMARK_NAMES = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")

Points = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels, ``(x0, y0)`` top-left, ``(x1, y1)`` bottom-right, with a score and
    optionally the 5 landmarks of :data:`LANDMARK_NAMES` as ``((x, y), ...)`` pixels (None from Haar)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float = 1.0
    landmarks: Points | None = None

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
        points = None if self.landmarks is None else tuple((x * scale + dx, y * scale + dy) for x, y in self.landmarks)
        return Box(self.x0 * scale + dx, self.y0 * scale + dy, self.x1 * scale + dx, self.y1 * scale + dy, self.score,
                   points)

    def shifted(self, dx: float, dy: float, grow: float = 1.0) -> Box:
        """The box moved by ``(dx, dy)`` and scaled by ``grow`` about its centre, landmarks with it."""
        cx, cy = self.center

        def move(x: float, y: float) -> tuple[float, float]:
            return cx + dx + (x - cx) * grow, cy + dy + (y - cy) * grow

        points = None if self.landmarks is None else tuple(move(x, y) for x, y in self.landmarks)
        (x0, y0), (x1, y1) = move(self.x0, self.y0), move(self.x1, self.y1)
        return Box(x0, y0, x1, y1, self.score, points)

    @staticmethod
    def square(cx: float, cy: float, side: float, score: float = 1.0) -> Box:
        half = side / 2
        return Box(cx - half, cy - half, cx + half, cy + half, score)

    def as_list(self, digits: int = 1) -> list[float]:
        return [round(v, digits) for v in (self.x0, self.y0, self.x1, self.y1)]
