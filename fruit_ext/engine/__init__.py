"""Engine components (hooks)."""
from .hooks import *  # noqa: F401,F403
from .runner import FruitRunner, build_runner  # noqa: F401,E402
