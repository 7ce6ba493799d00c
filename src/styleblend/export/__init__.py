"""Exporting generators for other runtimes (ONNX); hub-style model folders live in :mod:`styleblend.io.hub`.

Nothing here imports ``onnx``, ``onnxscript`` or ``onnxruntime`` until an export or a check is asked for.
"""
