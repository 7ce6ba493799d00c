"""Perceptual distances between images: VGG-16 features and the LPIPS-style distance on them.

One home for what projection (losses, reported metrics) and metrics (PPL) both measure with.
"""
