"""Service plumbing shared by every gridtwin service: config, logs, tracing, servers, channels."""
