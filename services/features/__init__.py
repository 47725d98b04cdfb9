"""The features service: per-meter rolling state in Redis and versioned feature vectors."""
