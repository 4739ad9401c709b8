"""Live prediction: a camera, a network stream or a file, scored per person as it plays (``peclip live``).

Usage::

    from peclip.predict.live import LiveOptions, LiveSession
    session = LiveSession(model, "/dev/video0", LiveOptions(window=2.0, hop=2.0), jsonl="live.jsonl", serve=8765)
    summary = session.run()          # until the source ends or session.stop() (Ctrl-C / SIGTERM in the CLI)

See :mod:`peclip.predict.live.session` for how the stages fit together. The names are imported on
first use, so the CLI reads :class:`LiveOptions` without loading torch.
"""

from __future__ import annotations

from peclip.lazy import lazy_exports

_EXPORTS = {
    "LiveOptions": "peclip.predict.live.options", "LiveSession": "peclip.predict.live.session",
    "run_live": "peclip.predict.live.session", "resolve_source": "peclip.predict.live.capture",
    "camera_devices": "peclip.predict.live.capture",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports("peclip.predict.live", _EXPORTS)
