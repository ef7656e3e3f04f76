"""Compression stages on a run folder: distil, prune, cluster, quantization-aware training."""
