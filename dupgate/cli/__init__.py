"""The `dupgate` command and what only it runs: the supervisor, the embedded Redis, folder scans and ingest."""
