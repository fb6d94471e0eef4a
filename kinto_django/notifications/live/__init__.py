"""Live push: committed changes delivered to WebSocket and Server-Sent Events clients of
`<api root>/changes`, each change checked against the reader's permissions when delivered.

A per-process hub on the channel layer decides each event's readers once and fans it out to
the process's subscribers; `routing` gives the routes a site's ASGI application composes."""
