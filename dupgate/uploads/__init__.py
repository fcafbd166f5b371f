"""Uploads: intake, the analyse-and-decide pipeline, duplicates, commit and review."""
