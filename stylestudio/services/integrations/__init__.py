"""Integrations with the users' own systems: outgoing webhooks (endpoints, the events they
subscribe to, and their signed deliveries with retries)."""
