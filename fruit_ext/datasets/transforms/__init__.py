"""Data transforms: robust, fast image loading."""
from .decode import BrokenImageError, EncodedImage, jpeg_reduction, to_rgb
from .loading import RobustLoadImageFromFile
from .processing import FastRandomResizedCrop

__all__ = [
    'BrokenImageError', 'EncodedImage', 'FastRandomResizedCrop',
    'RobustLoadImageFromFile', 'jpeg_reduction', 'to_rgb'
]
