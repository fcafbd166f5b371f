"""End-to-end ingestion speed: uploads through a real `dupgate serve`."""
