"""Library: a user's own images kept and found: collections, search, shares, uploads, stats."""
