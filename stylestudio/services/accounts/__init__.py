"""Accounts: sign-up, sign-in, one-time links, self-service and the proof of admin rights."""
