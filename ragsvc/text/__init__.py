"""Text utilities shared by ingest and retrieval: language, lexical tokens, sparse vectors."""
