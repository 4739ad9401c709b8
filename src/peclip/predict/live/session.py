"""``LiveSession``: emotions from a camera, a network stream or a file, as they happen.

Three stages on three threads, each only ever a window behind:

1. **capture** (:class:`~peclip.predict.live.capture.Capture`): decodes frames into a queue of about
   one window; when the next stage is behind, the oldest frames are dropped and counted.
2. **faces** (the calling thread): ``predict``'s face tracker on every frame
   (:class:`~peclip.predict.live.capture.LiveFaceSource`); each face frame goes into its person's
   buffer (:class:`~peclip.predict.live.windows.PersonWindows`, keyed by track id); every ``hop``
   seconds of stream time each person's last ``window`` seconds become a job. Draws the overlay video
   and the page's video.
3. **scoring** (:class:`_Scorer`): scores each person's newest job with
   :class:`~peclip.predict.scorer.WindowScorer`, ``predict``'s scorer. A person has one pending slot:
   a new window that arrives while the previous one still waits replaces it, and the replaced window
   is counted as skipped, so scoring that is slower than the hop skips windows and always works on the
   newest frames instead of falling behind. (A file read without ``realtime`` skips nothing: the face
   stage waits for the scorer instead, and the numbers are ``predict``'s.)

Each scored window becomes a JSON line (:mod:`peclip.predict.live.report`); :meth:`LiveSession.stop`
(Ctrl-C, SIGTERM) ends all three, flushes and closes the outputs, and :meth:`LiveSession.run` returns
the summary.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from peclip.model import PEClip
from peclip.predict.face_record import resolve_face_options
from peclip.predict.live.capture import Capture, LiveFaceSource, LiveFeed, resolve_source
from peclip.predict.live.options import LiveOptions
from peclip.predict.live.report import JsonlSink, LiveStats, format_summary, window_record
from peclip.predict.live.server import LiveServer
from peclip.predict.live.windows import PersonWindows, WindowJob
from peclip.predict.options import RANDOM_WEIGHTS_NOTE
from peclip.predict.overlay import OverlayWriter, draw_frame
from peclip.predict.scorer import WindowScorer

log = logging.getLogger(__name__)

#: scorers (with their frame caches) kept for this many most recent people
_MAX_SCORERS = 32


class _Scorer:
    """The scoring thread: one pending job per person, newest wins (module docstring, stage 3)."""

    def __init__(self, model: PEClip, frame_cache: bool | None, lossless: bool, emit: Callable, stats: LiveStats):
        self.model = model
        self.frame_cache = frame_cache
        self.lossless = lossless
        self.emit = emit
        self.stats = stats
        self._pending: OrderedDict = OrderedDict()
        self._cond = threading.Condition()
        self._closing = False
        self._scorers: OrderedDict = OrderedDict()
        self._thread = threading.Thread(target=self._run, name="peclip-live-score", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: WindowJob) -> None:
        with self._cond:
            while self.lossless and job.key in self._pending and not self._closing and self.error is None:
                self._cond.wait(0.1)
            if job.key in self._pending:
                self.stats.windows_skipped += 1
                log.debug("window %d of track %s skipped: scoring is behind", self._pending[job.key].window.index,
                          job.key)
            self._pending[job.key] = job
            self._pending.move_to_end(job.key)
            self._cond.notify_all()

    def close(self, drain: bool) -> None:
        """Stop the thread; ``drain`` scores what is pending first, otherwise it is counted as skipped."""
        with self._cond:
            self._closing = True
            if not drain:
                self.stats.windows_skipped += len(self._pending)
                self._pending.clear()
            self._cond.notify_all()
        self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"scoring failed: {self.error}") from self.error

    def _scorer(self, track) -> WindowScorer:
        if track not in self._scorers:
            # the precision build_model prepared (--precision): bf16 autocasts the vision tower; int8 is the model's own
            precision = getattr(self.model, "inference_precision", "fp32")
            self._scorers[track] = WindowScorer(self.model, self.frame_cache, precision=precision)
            while len(self._scorers) > _MAX_SCORERS:
                self._scorers.popitem(last=False)
        self._scorers.move_to_end(track)
        return self._scorers[track]

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._pending and not self._closing:
                        self._cond.wait(0.1)
                    if not self._pending:
                        return
                    jobs = sorted(self._pending.values(), key=lambda j: j.window.index)
                    self._pending.clear()
                    self._cond.notify_all()
                for job in jobs:
                    probabilities, seconds = None, None
                    if job.face:
                        begin = time.perf_counter()
                        scorer = self._scorer(job.track)
                        probabilities = scorer.score([job.clip])[0]  # (C,)
                        scorer.forget_before(job.window.frames[0].index)
                        seconds = time.perf_counter() - begin
                    self.emit(job, probabilities, seconds)
        except BaseException as err:  # reported by close(); the session must not hang on a dead thread
            log.exception("the scoring thread failed")
            with self._cond:
                self.error = err
                self._pending.clear()
                self._cond.notify_all()


class LiveSession:
    """Run a model on ``source`` live (module docstring).

    ``source``: a camera index or ``/dev/videoN``, a stream URL, or a video file. ``jsonl``: a path, or
    None for stdout, or False for no lines. ``overlay``: an MP4 path for the annotated video. ``serve``:
    a port on 127.0.0.1 for the page (0 picks a free one; see :attr:`url`). ``on_record`` is called with
    each JSON line's dict. ``face_options`` / ``detector`` as in :func:`peclip.predict.predict_video`
    (by default, a checkpoint crops faces as its training data was cropped:
    :func:`peclip.predict.face_record.resolve_face_options`).
    """

    def __init__(self, model: PEClip, source: str | os.PathLike, options: LiveOptions | None = None, *,
                 jsonl: str | os.PathLike | None | bool = None, overlay: str | os.PathLike | None = None,
                 serve: int | None = None, face_options=None, detector=None,
                 on_record: Callable[[dict], None] | None = None, stdout=None):
        self.model = model.eval()
        self.options = options or LiveOptions()
        self.spec = resolve_source(str(source))
        self.capture = Capture(self.spec, window=self.options.window, realtime=self.options.realtime,
                               reconnect=self.options.reconnect, backoff=self.options.backoff,
                               max_backoff=self.options.max_backoff)
        self.stats = LiveStats()
        self.class_names = list(model.class_names)
        self.sink = None if jsonl is False else JsonlSink(jsonl or None, stream=stdout)
        self.overlay_path = overlay
        self.on_record = on_record
        self.face_options, self.detector = face_options, detector
        self.server = LiveServer(serve, self.class_names, self.options.serve_fps) if serve is not None else None
        self.labels: dict = {}  # track -> the label of its newest scored window (for drawing)
        self.summary: dict | None = None
        self.stopped = False
        self._stop = threading.Event()

    @property
    def url(self) -> str | None:
        """The page's address once :meth:`start_server` ran (``--serve``)."""
        return self.server.url if self.server else None

    def start_server(self) -> str | None:
        if self.server is not None and not self.server.running:
            self.server.start()
            log.info("watch it at %s", self.server.url)
        return self.url

    def stop(self) -> None:
        """End the session soon (safe from a signal handler or another thread)."""
        self.stopped = True
        self._stop.set()
        self.capture.stop()

    # -- stage 3's output --------------------------------------------------------------------------
    def _emit(self, job: WindowJob, probabilities, seconds) -> None:
        record = window_record(job, probabilities, self.class_names, time.time())
        self.stats.add_record(record, seconds)
        if record["face"]:
            self.labels[job.track] = f"{record['top']} {record['top_probability']:.2f}"
        if self.sink is not None:
            self.sink.write(record)
        if self.server is not None:
            self.server.publish(record)
        if self.on_record is not None:
            self.on_record(record)

    def _label(self, track) -> str:
        return self.labels.get(track) or f"person {track}"

    # -- the session -------------------------------------------------------------------------------
    def run(self) -> dict:
        """Run until the source ends or :meth:`stop` is called; returns (and logs) the summary."""
        model, options = self.model, self.options
        if model.random_weights:
            log.warning("%s has random weights: %s", model.config.name, RANDOM_WEIGHTS_NOTE)
        self.start_server()
        feed = LiveFeed(self.capture)
        source = LiveFaceSource(feed, model.preprocess.size, detect_faces=options.detect_faces,
                                detector=self.detector, face_options=resolve_face_options(model, self.face_options))
        windows = PersonWindows(options.window, options.hop, num_frames=model.preprocess.num_frames,
                                sampling=options.sampling, min_face_fraction=options.min_face_fraction)
        scorer = _Scorer(model, options.frame_cache, self.capture.lossless, self._emit, self.stats)
        writer = None
        next_summary = time.monotonic() + options.summary_every if options.summary_every else None
        natural_end = False
        log.info("live: %s (%s, %.2f fps), %.1f s windows every %.1f s%s", self.spec.name, self.spec.kind,
                 self.capture.fps, options.window, options.hop, ", real time" if self.capture.realtime else "")
        scorer.start()
        self.capture.start()
        try:
            try:
                for frame in source:
                    self.stats.frames_processed += 1
                    wall = feed.walls.get(frame.index)
                    image = feed.images.get(frame.index)
                    dropped = feed.dropped_before.get(frame.index, 0)
                    feed.release(frame.index)
                    for job in windows.push(frame, wall, dropped):
                        scorer.submit(job)
                    if image is not None and (self.overlay_path or (self.server and self.server.watched)):
                        faces = [(f.box, self._label(f.track), f.track) for f in frame.faces if f.box is not None]
                        drawn = draw_frame(image, faces, frame.time)
                        if self.overlay_path:
                            if writer is None:
                                writer = OverlayWriter(self.overlay_path, image.shape[1], image.shape[0],
                                                       self.capture.fps)
                            writer.write(drawn)
                        if self.server is not None:
                            self.server.offer_frame(drawn)
                    if next_summary is not None and time.monotonic() >= next_summary:
                        next_summary += options.summary_every
                        self._report(final=False)
                    if scorer.error is not None:
                        break
                else:
                    natural_end = not self.stopped
            except ValueError as err:
                # FaceFrameSource raises "no video frames" when nothing came; after an early stop that is fine
                if source.frames_read:
                    raise
                if not self.stopped:
                    raise ValueError(f"{self.spec.name} gave no video frames "
                                     f"({self.capture.error or 'the source ended at once'})") from err
            except KeyboardInterrupt:
                self.stopped = True
            if natural_end:
                for job in windows.finish(source.duration):
                    scorer.submit(job)
        finally:
            self.capture.stop()
            self.capture.join()
            try:
                scorer.close(drain=natural_end)
            finally:
                if writer is not None:
                    writer.close()
                if self.sink is not None:
                    self.sink.close()
                self._report(final=True)
                if self.server is not None:
                    self.server.stop()
        return self.summary

    def _report(self, final: bool) -> None:
        self.summary = self.stats.summary(self.capture)
        self.summary["stopped"] = self.stopped
        if self.server is not None:
            self.server.publish({"type": "summary", **self.summary})
        log.info("%s%s", "summary: " if final else "", format_summary(self.summary))


def run_live(model: PEClip, source: str | os.PathLike, options: LiveOptions | None = None, **kwargs) -> dict:
    """Run a :class:`LiveSession` to its end; returns the summary (see :meth:`LiveSession.run`)."""
    return LiveSession(model, source, options, **kwargs).run()
