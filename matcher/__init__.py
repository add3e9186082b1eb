"""Who fits whom: features, graph, ranking, reciprocity, allocation and evaluation.

Sits above ``models`` and ``embeddings``; it never imports ``api``.
"""
