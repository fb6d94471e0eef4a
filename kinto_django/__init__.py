"""A Kinto HTTP API v1 server as reusable Django apps: the engine (`core`), `permissions`,
the resource apps (`buckets`, `records`, `accounts`, `history`) and `notifications`."""
