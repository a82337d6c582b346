"""Body shapes: width profiles (PROFILES) and the :class:`Body` geometry."""
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .primitives import Point


def _bump(t: np.ndarray, centre: float, radius: float) -> np.ndarray:
    """Half-ellipse bump of the given centre and radius along t."""
    return np.sqrt(np.clip(1.0 - ((t - centre) / radius) ** 2, 0.0, 1.0))


def _superellipse(power: float, exponent: Optional[float] = None
                  ) -> Callable[[np.ndarray], np.ndarray]:
    """Profile ``(1 - |u|^power)^exponent`` with ``u = 2t - 1``."""
    exp = 1.0 / power if exponent is None else exponent
    return lambda t: np.clip(1.0 - np.abs(2 * t - 1) ** power, 0, 1) ** exp


def _prof_pear(t: np.ndarray) -> np.ndarray:
    """Small top bulb smoothly joined to a big bottom bulb."""
    a, b = 0.58 * _bump(t, 0.25, 0.25), _bump(t, 0.66, 0.34)
    return (a ** 6 + b ** 6) ** (1 / 6)


def _prof_pomelo(t: np.ndarray) -> np.ndarray:
    """Round fruit with a slightly pointed top."""
    a, b = 0.85 * _bump(t, 0.32, 0.32), _bump(t, 0.56, 0.44)
    return (a ** 4 + b ** 4) ** 0.25


def _prof_carrot(t: np.ndarray) -> np.ndarray:
    """Round shoulder tapering to a point."""
    return np.sqrt(np.clip(t / 0.07, 0, 1)) * np.clip(1 - t, 0, 1) ** 0.85


def _prof_strawberry(t: np.ndarray) -> np.ndarray:
    """Broad rounded top, pointed bottom."""
    top = np.sqrt(np.clip(1 - ((0.3 - t) / 0.3) ** 2, 0, 1))
    bottom = np.clip((1 - t) / 0.7, 0, 1) ** 0.7
    return np.where(t < 0.3, top, bottom)


def _prof_mango(t: np.ndarray) -> np.ndarray:
    """Egg shape, fuller at the bottom."""
    u = 2 * np.clip(t, 0, 1) ** 0.8 - 1
    return np.sqrt(np.clip(1 - u * u, 0, 1))


#: Width profiles w(t), t = 0 at the top (stem end) and 1 at the bottom.
PROFILES: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    'ellipse': _superellipse(2.0),
    'squircle': _superellipse(2.6),
    'lemon': _superellipse(2.0, 0.78),
    'capsule': _superellipse(4.0),
    'spindle': _superellipse(2.0, 0.65),
    'banana': _superellipse(2.0, 0.72),
    'pear': _prof_pear,
    'pomelo': _prof_pomelo,
    'carrot': _prof_carrot,
    'strawberry': _prof_strawberry,
    'mango': _prof_mango,
}


@dataclass(frozen=True)
class Body:
    """Geometry of one fruit body in sprite pixel coordinates.

    The long axis is vertical; ``t`` runs from the top (0) to the bottom (1)
    and ``s`` across the visible face from -1 (left) to 1 (right).
    """

    cx: float
    cy: float
    hl: float
    hw: float
    bend: float
    profile: str

    @property
    def r0(self) -> float:
        """The smaller half-extent, used to size details."""
        return min(self.hl, self.hw)

    def width(self, t):
        """Relative half width at ``t``."""
        return PROFILES[self.profile](np.clip(np.asarray(t, float), 0, 1))

    def point(self, t, s):
        """Pixel coordinates of surface position (t, s) (arrays allowed)."""
        t = np.asarray(t, float)
        u = 2 * t - 1
        x = (self.cx + self.bend * self.hl * (1 - u * u) +
             np.asarray(s, float) * self.hw * self.width(t))
        return x, self.cy + u * self.hl

    def xy(self, t: float, s: float) -> Point:
        """Scalar version of :meth:`point`."""
        x, y = self.point(t, s)
        return float(x), float(y)

    def outline(self, n: int = 72) -> List[Point]:
        """Closed outline polygon."""
        t = np.linspace(0, 1, n)
        xl, ys = self.point(t, -1.0)
        xr, _ = self.point(t, 1.0)
        left = list(zip(xl.tolist(), ys.tolist()))
        right = list(zip(xr.tolist(), ys.tolist()))
        return left + right[::-1]


def sample_ts(rng: np.random.Generator, n: int,
               t_range: Tuple[float, float] = (0.04, 0.96)
               ) -> Tuple[np.ndarray, np.ndarray]:
    """Random surface positions, denser towards the silhouette."""
    t = rng.uniform(t_range[0], t_range[1], n)
    s = np.sin(rng.uniform(-1.45, 1.45, n))
    return t, s
