"""In-memory indexes over committed images: a derived cache, rebuilt or caught up from the database."""
