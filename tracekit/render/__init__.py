"""Renderers: Stats and frames → strings (HTML, terminal text). They never write or print."""
