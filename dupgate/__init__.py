"""dupgate: an ingestion gatekeeper that finds duplicate images before they are committed."""
