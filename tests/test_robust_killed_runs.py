"""Killed and interrupted runs (issue 11, items 5 and 6): ``prepare --workers`` children die with their
parent, Ctrl-C is one line and no traceback, and an overlay killed mid-encode leaves no file under its
final name. Each test drives a real ``peclip`` process on real media from ../shared/data."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
WOLF = DATA / "WolfgangLanger_Pexels.mp4"
SRC = Path(__file__).resolve().parents[1] / "src"

pytestmark = [pytest.mark.skipif(not WOLF.is_file(), reason="real media in ../shared/data is absent"),
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")]


def _peclip(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.Popen([sys.executable, "-m", "peclip.cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its exit status waits to be collected


def _wait_for(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_prepare_workers_die_when_their_parent_is_killed(tmp_path):
    inputs = []
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.mp4").symlink_to(WOLF)
        inputs.append(str(tmp_path / f"{name}.mp4"))
    parent = _peclip("prepare", *inputs, "--out", str(tmp_path / "out"), "--workers", "2", "--no-progress")
    try:
        assert _wait_for(lambda: len(_children(parent.pid)) >= 2, 60), "the workers did not start"
        workers = _children(parent.pid)
        time.sleep(1.0)  # the workers are busy with their first video
        parent.kill()
        parent.wait()
        assert _wait_for(lambda: not any(_alive(w) for w in workers), 15), "workers outlived their parent"
    finally:
        parent.kill()
        for w in _children(parent.pid):
            os.kill(w, signal.SIGKILL)


def test_ctrl_c_is_one_line_without_a_traceback(tmp_path):
    # its own session, as in a terminal: Ctrl-C sends SIGINT to the parent and its workers alike
    # Haar on every frame: tens of seconds of work, so the SIGINT surely lands mid-run (RetinaFace can
    # finish these two videos within seconds of the workers starting)
    proc = _peclip("prepare", str(WOLF), str(DATA / "single_face.mp4"), "--out", str(tmp_path / "out"), "--workers",
                   "2", "--no-progress", "--detector", "haar", "--detect-every", "1", start_new_session=True)
    assert _wait_for(lambda: len(_children(proc.pid)) >= 1, 60)
    workers = _children(proc.pid)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert _wait_for(lambda: not any(_alive(w) for w in workers), 15)
    assert proc.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "peclip prepare: interrupted" in err


_SLOW_OVERLAY = """
import sys, time
import torch
import peclip.predict.source as source
from peclip.predict import predict_video, zero_shot_model
torch.manual_seed(0)
result = predict_video(zero_shot_model("test-clip-vit-b16"), sys.argv[1], detect_faces=False)
draw = source.draw_frame
def slow_draw(*args):
    time.sleep(0.05)  # stretch the encode so the test can kill it half-way
    return draw(*args)
source.draw_frame = slow_draw
print("encoding", flush=True)
result.write_overlay(sys.argv[2])
"""


def test_an_overlay_killed_mid_encode_leaves_no_file_under_its_final_name(tmp_path):
    target = tmp_path / "single_face_overlay.mp4"
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_OVERLAY, str(DATA / "single_face.mp4"), str(target)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "encoding"
        partial = tmp_path / ".single_face_overlay.tmp.mp4"
        assert _wait_for(lambda: partial.is_file() and partial.stat().st_size > 0, 60)
        proc.kill()
        proc.wait()
    finally:
        proc.kill()
    assert not target.exists()  # only the hidden temporary file holds the partial encode
