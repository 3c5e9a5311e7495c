"""Embedding: the models that turn text into vectors (lexical, MiniLM, a user's callable) and the
provenance of a target's vectors (which model made them)."""
