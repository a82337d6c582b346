"""Model components registered in mmpretrain's ``MODELS``."""
from .heads import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
