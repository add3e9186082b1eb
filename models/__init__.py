"""What the City Partner entities are and how they are stored.

The lowest layer: it imports nothing from ``embeddings``, ``matcher`` or ``api``.
"""
