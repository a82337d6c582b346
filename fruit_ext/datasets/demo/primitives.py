"""Colour and geometry helpers shared by the demo renderer's sections."""
import colorsys
import math
from typing import List, Tuple

from PIL import Image

RGB = Tuple[int, int, int]
Point = Tuple[float, float]


def clip01(value: float) -> float:
    """Clamp a float to [0, 1]."""
    return min(1.0, max(0.0, value))


def jitter(rgb: RGB, dh: float, ds: float, dv: float) -> RGB:
    """Shift a colour's hue and scale its saturation and value.

    Args:
        rgb: Colour to change.
        dh: Hue shift (fraction of the colour wheel).
        ds: Saturation factor.
        dv: Value (brightness) factor.

    Returns:
        The changed colour.
    """
    h, s, v = colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))
    r, g, b = colorsys.hsv_to_rgb((h + dh) % 1.0, clip01(s * ds),
                                  clip01(v * dv))
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def scale(rgb: RGB, factor: float) -> RGB:
    """Darken (factor < 1) or brighten a colour by multiplying it."""
    return tuple(int(min(255, max(0, round(c * factor)))) for c in rgb)


def tint(rgb: RGB, amount: float) -> RGB:
    """Blend a colour towards white by ``amount`` (0..1)."""
    return tuple(int(round(c + (255 - c) * amount)) for c in rgb)


def rgba(rgb: RGB, alpha: float) -> Tuple[int, int, int, int]:
    """Append an alpha value to a colour."""
    return (rgb[0], rgb[1], rgb[2], int(alpha))


def ellipse_poly(cx: float, cy: float, rx: float, ry: float, angle: float,
                  n: int = 20) -> List[Point]:
    """Polygon of a rotated ellipse.

    Args:
        cx: Centre x.
        cy: Centre y.
        rx: Radius along the rotated x axis.
        ry: Radius along the rotated y axis.
        angle: Rotation in radians.
        n: Number of vertices.

    Returns:
        The vertices.
    """
    ca, sa = math.cos(angle), math.sin(angle)
    pts = []
    for k in range(n):
        a = 2 * math.pi * k / n
        x, y = rx * math.cos(a), ry * math.sin(a)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def leaf_poly(x0: float, y0: float, angle: float, length: float,
               width: float, n: int = 12) -> List[Point]:
    """Polygon of a pointed leaf from its base along ``angle``.

    Args:
        x0: Base x.
        y0: Base y.
        angle: Direction of the leaf in radians (image coordinates).
        length: Leaf length.
        width: Half width at the widest point.
        n: Vertices per side.

    Returns:
        The vertices.
    """
    ca, sa = math.cos(angle), math.sin(angle)
    left, right = [], []
    for k in range(n + 1):
        tau = k / n
        half = width * math.sin(math.pi * tau) ** 0.8 * (1 - 0.25 * tau)
        px, py = x0 + ca * length * tau, y0 + sa * length * tau
        left.append((px - sa * half, py + ca * half))
        right.append((px + sa * half, py - ca * half))
    return left + right[::-1]


def composite(dst: Image.Image, src: Image.Image, x: float, y: float) -> None:
    """Alpha-composite ``src`` onto ``dst`` at (x, y), clipping at edges."""
    x, y = int(round(x)), int(round(y))
    left, top = max(0, -x), max(0, -y)
    right = min(src.width, dst.width - x)
    bottom = min(src.height, dst.height - y)
    if right <= left or bottom <= top:
        return
    dst.alpha_composite(src.crop((left, top, right, bottom)),
                        dest=(x + left, y + top))


def rotate_point(px: float, py: float, size: Tuple[int, int],
                  new_size: Tuple[int, int], degrees: float) -> Point:
    """Where a point lands after ``Image.rotate(degrees, expand=True)``."""
    a = math.radians(degrees)
    dx, dy = px - size[0] / 2, py - size[1] / 2
    return (new_size[0] / 2 + dx * math.cos(a) + dy * math.sin(a),
            new_size[1] / 2 - dx * math.sin(a) + dy * math.cos(a))
