"""The HTTP layer (litestar): app factory, controllers, schemas, error mapping."""
