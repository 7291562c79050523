"""Demo data: the Dutch government's algorithm register and three hand-written systems."""
