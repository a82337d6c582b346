"""Datasets and their metadata."""
from .categories import FRUIT30_ALIASES, FRUIT30_CLASSES, alias_for
from .fruit30 import IMG_EXTENSIONS, Fruit30
from .check import CheckReport, check_dataset
from .quarantine import quarantine, restore
from .transforms import (BrokenImageError, FastRandomResizedCrop,
                         RobustLoadImageFromFile)

__all__ = [
    'Fruit30', 'FRUIT30_CLASSES', 'FRUIT30_ALIASES', 'alias_for',
    'IMG_EXTENSIONS', 'BrokenImageError', 'RobustLoadImageFromFile',
    'FastRandomResizedCrop', 'CheckReport', 'check_dataset', 'quarantine',
    'restore'
]
