"""`/api/v1`: the public REST API (API keys, problem details, OpenAPI 3.1)."""
