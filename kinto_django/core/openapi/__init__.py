"""`GET /__api__`: the running server described in OpenAPI 3.0."""
