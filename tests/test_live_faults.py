"""Faults of live sources: a missing camera lists the cameras present; a network stream that drops is
reopened with backoff under --reconnect (a local HTTP stream served from a file, stopped and restarted),
and without it the session ends with its summary."""

import http.server
import threading
import time
from pathlib import Path

import av
import pytest
import torch

from peclip.predict import zero_shot_model
from peclip.predict.live import LiveOptions, LiveSession, capture, resolve_source

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SINGLE = DATA / "single_face.mp4"  # 30 fps, 72 frames (2.4 s)


def test_a_missing_camera_lists_the_cameras_that_exist(monkeypatch):
    monkeypatch.setattr(capture.sys, "platform", "linux")
    monkeypatch.setattr(capture, "camera_devices", lambda: ["/dev/video0", "/dev/video2"])
    with pytest.raises(FileNotFoundError, match=r"/dev/video7 not found; cameras present: /dev/video0, /dev/video2"):
        resolve_source("7")
    monkeypatch.setattr(capture, "camera_devices", lambda: [])
    with pytest.raises(FileNotFoundError, match=r"no camera devices \(/dev/video\*\) exist"):
        resolve_source("/dev/video9")


def test_sources_are_told_apart_and_bad_ones_named(tmp_path):
    assert resolve_source("rtsp://127.0.0.1:8554/cam").kind == "stream"
    assert resolve_source("http://127.0.0.1:8080/x.ts").options == {"rw_timeout": "5000000"}
    with pytest.raises(FileNotFoundError, match="neither an existing file, a camera"):
        resolve_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(ValueError, match="unknown scheme 'gopher'"):
        resolve_source("gopher://x")


def _as_transport_stream(src: Path, dst: Path) -> bytes:
    """Remux the H.264 of ``src`` into MPEG-TS (a format that streams over plain HTTP)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", format="mpegts") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst.read_bytes()


class _Stream:
    """A local HTTP server on 127.0.0.1 that sends the file at about its real bitrate, once per connection."""

    def __init__(self, payload: bytes, seconds: float, port: int = 0):
        self.payload, self.connections, self.down = payload, 0, False
        chunk = 4096
        pause = seconds / (len(payload) / chunk)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                outer.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp2t")
                self.end_headers()
                try:
                    for i in range(0, len(outer.payload), chunk):
                        if outer.down:
                            return  # the stream drops mid-way: the connection is closed
                        self.wfile.write(outer.payload[i:i + chunk])
                        time.sleep(pause)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.down = True
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def transport_stream(tmp_path_factory):
    if not SINGLE.is_file():
        pytest.skip("real media in ../shared/data is absent")
    return _as_transport_stream(SINGLE, tmp_path_factory.mktemp("ts") / "single_face.ts")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return zero_shot_model("test-clip-vit-b16")


def _start(session):
    result = {}
    thread = threading.Thread(target=lambda: result.update(summary=session.run()), daemon=True)
    thread.start()
    return thread, result


def _wait(condition, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_stream_that_ends_without_reconnect_ends_the_session_with_its_summary(transport_stream, model):
    server = _Stream(transport_stream, seconds=2.4)
    lines = []
    try:
        session = LiveSession(model, f"http://127.0.0.1:{server.port}/live.ts", LiveOptions(), jsonl=False,
                              on_record=lines.append)
        thread, result = _start(session)
        thread.join(30)
        assert not thread.is_alive()
    finally:
        server.stop()
    # an HTTP stream ends with a read error, before the decoder hands over its last frame or two
    assert 66 <= result["summary"]["frames_in"] <= 72 and result["summary"]["reconnects"] == 0
    assert result["summary"]["stopped"] is False
    assert [line["window"] for line in lines] == [0, 1] and all(line["face"] for line in lines)


def test_a_dropped_stream_is_reopened_with_backoff_under_reconnect(transport_stream, model, caplog):
    server = _Stream(transport_stream, seconds=2.4)
    port = server.port
    lines = []
    options = LiveOptions(reconnect=True, backoff=0.2, max_backoff=0.8)
    session = LiveSession(model, f"http://127.0.0.1:{port}/live.ts", options, jsonl=False, on_record=lines.append)
    thread, result = _start(session)
    try:
        # the stream drops mid-way and stays down for a while
        assert _wait(lambda: session.capture.frames_in >= 40, 30)
        server.stop()
        time.sleep(1.5)  # reopening fails meanwhile (connection refused), with growing waits
        assert session.capture.reconnects == 0
        server = _Stream(transport_stream, seconds=2.4, port=port)  # the stream comes back on the same port
        assert _wait(lambda: session.capture.reconnects >= 1 and session.capture.frames_in >= 40 + 60, 30)
        assert _wait(lambda: any(line["stream_time"] > 4.0 for line in lines), 30)
    finally:
        session.stop()
        thread.join(30)
        server.stop()
    summary = result["summary"]
    assert summary["reconnects"] >= 1 and summary["stopped"] is True
    times = [line["stream_time"] for line in lines]
    assert times == sorted(times)  # stream time goes on across the outage
    assert max(times) > 40 / 30 + 1.5 + 1.0  # windows from after the outage
    assert "reopening in 0.4 s" in caplog.text  # the wait doubled after a failed attempt
