"""``--serve PORT``: a page on 127.0.0.1 with the live video and a live chart of each person's probabilities.

Plain HTML and JavaScript shipped in the package (``static/``; no build step, nothing fetched from
elsewhere). The server is the standard library's threaded HTTP server, bound to the loopback
interface only:

- ``/`` and ``/live.js``: the page;
- ``/stream.mjpg``: the annotated video as MJPEG (``multipart/x-mixed-replace``), encoded only while
  someone watches and at most ``max_fps`` frames per second;
- ``/events``: Server-Sent Events, one per JSON line of the session (and a ``summary`` event now and
  then), the last few hundred replayed to a new page;
- ``/state``: the classes and the recent events as JSON.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources

import cv2
import numpy as np

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
_STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/index.html": ("index.html", "text/html; charset=utf-8"),
           "/live.js": ("live.js", "text/javascript; charset=utf-8")}
_BOUNDARY = "peclipframe"


def static_text(name: str) -> str:
    """A file of the page, from the package data."""
    return resources.files("peclip.predict.live").joinpath("static", name).read_text(encoding="utf-8")


class LiveServer:
    """Serve the page for one session (module docstring). ``port`` 0 picks a free port."""

    def __init__(self, port: int, class_names: list[str], max_fps: float = 12.0, history: int = 600):
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"--serve {port!r}: give a port number 1-65535 (0 picks a free one)")
        self.port = port
        self.class_names = list(class_names)
        self.min_interval = 1.0 / max_fps
        self._events: deque[tuple[int, str]] = deque(maxlen=history)
        self._event_seq = 0
        self._jpeg: bytes | None = None
        self._frame_seq = 0
        self._last_frame = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self.viewers = 0
        self.frames_sent = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def watched(self) -> bool:
        """True while a page shows the video (frames are drawn and encoded only then)."""
        return self.viewers > 0

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"live": self})
        try:
            self._httpd = ThreadingHTTPServer((HOST, self.port), handler)
        except OSError as err:
            raise RuntimeError(f"--serve {self.port}: cannot listen on {HOST}:{self.port} ({err}); "
                               "choose another port, or 0 for a free one") from err
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="peclip-live-server", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    # -- fed by the session ------------------------------------------------------------------------
    def publish(self, record: dict) -> None:
        text = json.dumps(record, allow_nan=False)
        with self._cond:
            self._event_seq += 1
            self._events.append((self._event_seq, text))
            self._cond.notify_all()

    def offer_frame(self, rgb: np.ndarray) -> None:
        """The newest annotated frame (RGB); encoded when someone watches and the rate allows."""
        now = time.monotonic()
        if not self.watched or now - self._last_frame < self.min_interval:
            return
        self._last_frame = now
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            with self._cond:
                self._jpeg = jpeg.tobytes()
                self._frame_seq += 1
                self._cond.notify_all()

    # -- read by the handlers ----------------------------------------------------------------------
    def next_frame(self, seen: int) -> tuple[int, bytes | None]:
        with self._cond:
            self._cond.wait_for(lambda: self._frame_seq != seen or self._stopping, timeout=1.0)
            return self._frame_seq, self._jpeg

    def next_events(self, seen: int) -> tuple[int, list[str]]:
        with self._cond:
            self._cond.wait_for(lambda: self._event_seq != seen or self._stopping, timeout=1.0)
            new = [(i, t) for i, t in self._events if i > seen]
            return (new[-1][0] if new else seen), [t for _, t in new]

    def state(self) -> dict:
        with self._cond:
            return {"classes": self.class_names, "events": [json.loads(t) for _, t in self._events]}

    def add_viewer(self, change: int) -> None:
        with self._cond:
            self.viewers += change

    @property
    def stopping(self) -> bool:
        return self._stopping


class _Handler(BaseHTTPRequestHandler):
    live: LiveServer  # set on the subclass made by LiveServer.start
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's signature
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, body: bytes, content_type: str, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        try:
            if path in _STATIC:
                name, content_type = _STATIC[path]
                self._send(static_text(name).encode("utf-8"), content_type)
            elif path == "/state":
                self._send(json.dumps(self.live.state()).encode("utf-8"), "application/json")
            elif path == "/events":
                self._events()
            elif path == "/stream.mjpg":
                self._mjpeg()
            else:
                self._send(b"not found", "text/plain", HTTPStatus.NOT_FOUND)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away

    def _events(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        seen = 0
        while not self.live.stopping:
            seen, texts = self.live.next_events(seen)
            body = "".join(f"data: {t}\n\n" for t in texts) or ": keep-alive\n\n"
            self.wfile.write(body.encode("utf-8"))
            self.wfile.flush()

    def _mjpeg(self) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        live = self.live
        live.add_viewer(+1)
        try:
            seen = 0
            while not live.stopping:
                seq, jpeg = live.next_frame(seen)
                if seq == seen or jpeg is None:
                    continue
                seen = seq
                self.wfile.write(f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                                 .encode("ascii") + jpeg + b"\r\n")
                self.wfile.flush()
                live.frames_sent += 1
        finally:
            live.add_viewer(-1)
