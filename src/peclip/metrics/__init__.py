"""Metrics: classification (UAR, WAR) and image similarity (CSIM)."""
