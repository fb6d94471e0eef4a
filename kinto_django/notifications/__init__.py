"""Change notifications: the engine's `resource_changed` signal, delivered to listeners
(`listeners`, the registry). Two parts use it: `live`, the push to WebSocket and Server-Sent
Events clients, and `outbox`, the durable listeners (Redis queues, webhooks)."""
