"""Latent codes: seeds -> z, z -> ws, truncation and latent files."""
