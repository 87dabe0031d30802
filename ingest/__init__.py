"""The ingest job: read FAQs and documents, chunk them, embed them, publish them to Qdrant."""
