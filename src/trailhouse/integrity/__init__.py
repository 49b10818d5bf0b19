"""Signed digests of delivered data and their offline verification (docs/integrity.md)."""
