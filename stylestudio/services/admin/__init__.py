"""Admin: what administrators see and change (users, purchases, billing) and the audit log."""
