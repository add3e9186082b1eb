"""Text to vectors and vectors to neighbours.

Sits above ``models`` and below ``matcher``: it may import ``models``, never ``matcher`` or ``api``.
"""
