"""Which frames a prediction's clips will sample, known before the video is decoded: where to run the detector.

``predict`` scores ``T`` frames of each window (TSN: the centre of each of ``T`` equal segments of the
window's face frames, :func:`peclip.data.sampling.tsn_indices`). With 2 s windows at 24 fps that is
16 of 48 frames, so most of the face stage's detections (every ``detect_every``-th frame; the
detector is 86 % of the face stage's time on WolfgangLanger_Pexels.mp4) serve frames no clip uses.
:class:`SampledFrames` says, for a frame index, whether some window's TSN sampling will pick it,
assuming frame ``i`` is at ``i / fps`` seconds and every frame of the window shows the face. The
face tracker then detects on those frames only (``FaceTracks.detect_at``; a hard cut and a track
awaiting confirmation still force a detection), and moves its boxes by their velocity in between
as it does between ``detect_every`` frames.

What changes (``PredictOptions.detect_frames="sampled"``): every sampled frame's crop comes from a
detection made on that very frame (under ``detect_every=2`` about half come from boxes moved by the
tracker's velocity), and the tracker's smoothing sees a different sequence of detections, so the
crops, and the probabilities, differ slightly from the every-k schedule; the windows and which of
them have a face stay those the video gives. Where the assumption fails (frames without a face
shift TSN's picks within a window; timestamps off the ``i / fps`` grid; the last window, cut at the
end of the video) a sampled frame may fall between detections and gets a moved box, as under the
every-k schedule. CSIM sampling picks frames by their content and cannot be planned.
"""

from __future__ import annotations

import math

from peclip.data.sampling import tsn_indices


class SampledFrames:
    """``plan(index)``: will a window's TSN sampling pick frame ``index``? (module docstring)

    Windows are ``[k * stride, k * stride + window)`` seconds (:class:`~peclip.predict.windows.SlidingWindows`);
    frame ``i`` is taken to be at ``i / fps``. Windows are planned lazily as the indices asked for grow.
    """

    def __init__(self, fps: float, window: float, stride: float, num_frames: int):
        if not (fps and fps > 0 and window > 0 and 0 < stride <= window and num_frames >= 1):
            raise ValueError(f"cannot plan the sampled frames of fps={fps}, window={window}, stride={stride}, "
                             f"num_frames={num_frames}")
        self.fps, self.window, self.stride, self.num_frames = float(fps), float(window), float(stride), num_frames
        self._planned: set[int] = set()
        self._next_window = 0
        self._covered = -1  # every frame index up to this one has been planned for

    def _first_frame(self, seconds: float) -> int:
        """The first frame index at or after ``seconds`` on the ``i / fps`` grid."""
        return math.ceil(seconds * self.fps - 1e-6)

    def __call__(self, index: int) -> bool:
        while self._covered < index:
            start = self._next_window * self.stride
            first, end = self._first_frame(start), self._first_frame(start + self.window)  # [first, end)
            if end > first:
                self._planned.update(first + i for i in tsn_indices(end - first, self.num_frames, train=False))
            self._covered = self._first_frame(start + self.stride) - 1  # the next window plans from here on
            self._next_window += 1
        return index in self._planned
