"""The durable listeners (Redis queues, webhooks): an outbox written in every write's
transaction, delivered at least once and in order per scope by one dispatcher at a time."""
