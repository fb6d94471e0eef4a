"""The endpoints beside the resources (spec/06, spec/04): the root, health checks, version,
batch, `/permissions`, metrics, flush, redirects and the JSON 404."""
