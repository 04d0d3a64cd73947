"""Object store: one small interface over a local folder or S3 (as low as the catalog)."""
