"""Images and videos: tensor <-> uint8 conversion, PNG output, grids, video writing."""
