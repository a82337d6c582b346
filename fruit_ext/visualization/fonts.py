"""Pick a font that can draw the class names, or fall back to aliases."""
import functools
from typing import List, Optional, Sequence, Tuple

from matplotlib import font_manager

from ..datasets.categories import alias_for

#: Families known to cover Chinese, best first. Debian: fonts-noto-cjk,
#: fonts-wqy-microhei, fonts-wqy-zenhei, fonts-arphic-*.
CJK_FAMILIES = ('Noto Sans CJK SC', 'Noto Sans CJK JP', 'Noto Serif CJK SC',
                'Source Han Sans SC', 'WenQuanYi Micro Hei',
                'WenQuanYi Zen Hei', 'AR PL UMing CN', 'AR PL UKai CN',
                'SimHei', 'Microsoft YaHei', 'PingFang SC', 'Heiti SC')


@functools.lru_cache(maxsize=1)
def find_cjk_font() -> Optional[str]:
    """Path of an installed font that draws Chinese, via matplotlib.

    Returns:
        The font file path, or None when no CJK font is installed.
    """
    by_name = {font.name: font.fname for font in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in by_name:
            return by_name[family]
    for font in font_manager.fontManager.ttflist:
        if 'CJK' in font.name or 'Han Sans' in font.name:
            return font.fname
    return None


def needs_cjk(text: str) -> bool:
    """Whether ``text`` holds characters outside Latin-1 (e.g. Chinese).

    Args:
        text: A label.

    Returns:
        True if a plain Latin font cannot draw it.
    """
    return any(ord(char) > 0x24F for char in text)


def display_labels(
        classes: Sequence[str],
        aliases: Optional[Sequence[str]] = None
) -> Tuple[List[str], Optional[font_manager.FontProperties]]:
    """Class labels to draw and the font to draw them with.

    Chinese names are kept when a CJK font is installed; otherwise the English
    aliases are used, so labels never render as empty boxes.

    Args:
        classes: Class names (possibly Chinese).
        aliases: English aliases in the same order; looked up when None.

    Returns:
        (labels, font properties or None for the default font).
    """
    if not any(needs_cjk(name) for name in classes):
        return list(classes), None
    font = find_cjk_font()
    if font is not None:
        return list(classes), font_manager.FontProperties(fname=font)
    aliases = aliases or [alias_for(name) for name in classes]
    return list(aliases), None
