"""Type stub of the front door: what ``import styleblend as sb`` offers (``__init__.py`` provides the same
names lazily at run time; tests hold the two lists equal)."""

from .api import blend_models as blend_models
from .api import bundled as bundled
from .api import convert as convert
from .api import embed as embed
from .api import generate as generate
from .api import image_grid as image_grid
from .api import interpolate as interpolate
from .api import load as load
from .api import save as save
from .api import save_image as save_image
from .api import seeds_to_ws as seeds_to_ws
from .blend.multi import WeightTable as WeightTable
from .blend.schedules import Linear as Linear
from .blend.schedules import Sigmoid as Sigmoid
from .blend.schedules import Swap as Swap
from .blend.schedules import Table as Table
from .export.onnx import export_onnx as export_onnx
from .io.checkpoint import Checkpoint as Checkpoint
from .io.hub import save_pretrained as save_pretrained
from .latents.crossover import crossover as crossover
from .latents.files import load_ws as load_latents
from .latents.files import save_latents as save_latents
from .project.toonify import toonify as toonify
from .types import Generator as Generator

__version__: str

__all__ = [
    "__version__",
    "Checkpoint", "Generator", "bundled", "load", "save", "convert", "save_pretrained", "export_onnx",
    "generate", "image_grid", "save_image",
    "seeds_to_ws", "interpolate", "crossover", "load_latents", "save_latents",
    "blend_models", "Swap", "Linear", "Sigmoid", "Table", "WeightTable",
    "embed", "toonify",
]
