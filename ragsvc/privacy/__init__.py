"""What leaves the service or is kept: PII redaction for outbound prompts and stored traces."""
