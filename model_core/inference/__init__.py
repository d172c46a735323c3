"""Inference on a trained WaveNet: the incremental sampler and its step kernels, reproducible draws, offline
generation, and likelihood scoring."""
