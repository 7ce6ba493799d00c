"""Small example images shipped with the package (see ATTRIBUTION.md)."""
