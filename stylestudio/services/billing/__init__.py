"""Billing: the credit ledger, prices, credit packs, checkout and payment reversals."""
