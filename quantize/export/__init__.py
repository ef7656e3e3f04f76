"""Artifacts out: int8 and streaming int8 TFLite, and the report."""
