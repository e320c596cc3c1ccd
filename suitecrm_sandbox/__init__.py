"""A SuiteCRM 7.14 V8 API server that behaves like the real one on the wire (demos, tests, benchmarks)."""
