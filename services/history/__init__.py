"""History service: consumes the assessment stream into the database and answers queries."""
