"""Curation by people: the blocklist, and pairs declared not duplicates."""
