"""Report sections of the demo, one module each, run in name order (``10_graph.py``...)."""
