"""Prometheus metrics (`GET /__metrics__`) and request summary logs."""
