"""The int8 graph cache expires: by age, count and size, never the graph in use, only its own files."""

from __future__ import annotations

import os

import pytest

from peclip.predict.graph_cache import CacheLimits, prune, touch

DAY = 86400.0
NOW = 1_000_000_000.0


def _graph(folder, name, size=10, age_days=0.0):
    path = folder / f"vision-{name}-t16.onnx"
    path.write_bytes(b"x" * size)
    os.utime(path, (NOW - age_days * DAY, NOW - age_days * DAY))
    return path


def test_graphs_unused_longer_than_the_age_limit_are_deleted(tmp_path):
    old, recent = _graph(tmp_path, "old", age_days=31), _graph(tmp_path, "recent", age_days=29)
    deleted = prune(tmp_path, CacheLimits(max_age_days=30), now=NOW)
    assert deleted == [old]
    assert recent.exists() and not old.exists()


def test_only_the_most_recently_used_graphs_are_kept_by_count_and_size(tmp_path):
    paths = [_graph(tmp_path, f"g{i}", size=400_000, age_days=i) for i in range(5)]  # g0 newest
    prune(tmp_path, CacheLimits(max_files=3), now=NOW)
    assert [p.exists() for p in paths] == [True, True, True, False, False]
    prune(tmp_path, CacheLimits(max_mb=1.0), now=NOW)  # 1 MB holds two 0.4 MB graphs
    assert [p.exists() for p in paths] == [True, True, False, False, False]


def test_the_graph_in_use_and_other_files_are_never_deleted(tmp_path):
    in_use = _graph(tmp_path, "in-use", size=5_000_000, age_days=100)  # over every limit
    other = tmp_path / "notes.txt"
    other.write_text("mine")
    os.utime(other, (NOW - 100 * DAY, NOW - 100 * DAY))
    stale_tmp = tmp_path / ".vision-killed.tmp.onnx"  # a write killed half-way, two days ago
    stale_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (NOW - 2 * DAY, NOW - 2 * DAY))
    fresh_tmp = tmp_path / ".vision-writing.tmp.onnx"  # another process is writing it now
    fresh_tmp.write_bytes(b"x")
    os.utime(fresh_tmp, (NOW, NOW))
    deleted = prune(tmp_path, CacheLimits(max_age_days=1, max_files=1, max_mb=1), keep=in_use, now=NOW)
    assert deleted == [stale_tmp]
    assert in_use.exists() and other.exists() and fresh_tmp.exists()


def test_a_cache_hit_renews_a_graphs_age(tmp_path):
    path = _graph(tmp_path, "used", age_days=40)
    touch(path)
    assert prune(tmp_path, CacheLimits(max_age_days=30)) == []  # now: the real clock, just after the touch


def test_limits_come_from_the_environment_and_bad_values_are_named(monkeypatch):
    monkeypatch.setenv("PECLIP_CACHE_MAX_FILES", "3")
    monkeypatch.setenv("PECLIP_CACHE_MAX_MB", "500")
    assert CacheLimits.from_environment() == CacheLimits(max_files=3, max_mb=500.0)
    monkeypatch.setenv("PECLIP_CACHE_MAX_AGE_DAYS", "a week")
    with pytest.raises(ValueError, match="PECLIP_CACHE_MAX_AGE_DAYS='a week'"):
        CacheLimits.from_environment()
    monkeypatch.setenv("PECLIP_CACHE_MAX_AGE_DAYS", "0")
    with pytest.raises(ValueError, match="must be positive"):
        CacheLimits.from_environment()
