"""Tests of `embeddings`."""
