"""Change notifications: the engine's `resource_changed` signal, delivered to listeners (live
WebSocket and Server-Sent Events clients first)."""
