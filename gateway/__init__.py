"""The HTTP gateway (FastAPI): takes uploads, stages them, answers at once."""
