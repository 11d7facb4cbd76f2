"""FPT suites for the embedded demo service."""
