"""Numerical operators of StyleGAN2 as plain PyTorch reference implementations.

These are the specification: any faster variant must have the same signature and a test
that holds it to these functions.
"""
