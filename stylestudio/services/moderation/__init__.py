"""Moderation: featuring requests, admin decisions and the public showcase they feed."""
