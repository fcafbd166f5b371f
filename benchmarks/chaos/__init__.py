"""Faults against a running dupgate: nothing lost, nothing decided twice, and how fast it recovers."""
