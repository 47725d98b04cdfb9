"""The ingest service: validation, de-duplication on (meter_id, timestamp), fan-out to features."""
