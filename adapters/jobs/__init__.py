"""Jobs: the engine that runs them, and one module per kind of job (see kinds.py)."""
