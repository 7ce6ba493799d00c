"""styleblend: StyleGAN2-family generators as data - load, generate, blend, embed, edit.

Importing this package has no side effects: no downloads, no kernel builds and no
global torch settings.
"""

__version__ = "0.1.0"
