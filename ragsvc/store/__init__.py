"""The Qdrant index: collection schema, staged writes and atomic publication, search calls."""
