"""Pick a font that can draw the class names, or fall back to aliases.

:func:`register_cjk_font` (run when matplotlib is first imported) adds the Noto Sans
CJK SC fonts of the PyPI package ``mplfonts`` (installed by the set-up) to
matplotlib, or else uses a system CJK font, as the first font of matplotlib's
'sans-serif' and 'monospace' families, so every matplotlib picture in the process (mmpretrain's
``UniversalVisualizer``, ``confusion_matrix``, ``analyze_results``,
``browse_dataset``) draws Chinese class names instead of empty boxes.
"""
import functools
import importlib.util
import os.path as osp
from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

from ..datasets.categories import alias_for

if TYPE_CHECKING:
    from matplotlib.font_manager import FontProperties

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
    from matplotlib import font_manager
    by_name = {font.name: font.fname for font in font_manager.fontManager.ttflist}
    pypi_font = pypi_cjk_font('sans-serif')
    if pypi_font is not None and pypi_font in by_name.values():
        return pypi_font  # the one the set-up installs, on every machine
    for family in CJK_FAMILIES:
        if family in by_name:
            return by_name[family]
    for font in font_manager.fontManager.ttflist:
        if 'CJK' in font.name or 'Han Sans' in font.name:
            return font.fname
    return None


#: Open (SIL OFL) CJK fonts shipped by the PyPI package ``mplfonts``, for
#: matplotlib's generic families.
PYPI_PACKAGE = 'mplfonts'
PYPI_CJK_FONTS = {'sans-serif': 'fonts/NotoSansCJKsc-Regular.otf',
                  'monospace': 'fonts/NotoSansMonoCJKsc-Regular.otf'}


def pypi_cjk_font(family: str = 'sans-serif') -> Optional[str]:
    """Path of a CJK font file of the PyPI package, without importing it.

    Args:
        family: 'sans-serif' or 'monospace'.

    Returns:
        The ``.otf`` path, or None when ``mplfonts`` is not installed.
    """
    try:
        spec = importlib.util.find_spec(PYPI_PACKAGE)
    except (ImportError, ValueError):  # blocked: sys.modules[name] is None
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = osp.join(folder, PYPI_CJK_FONTS[family])
        if osp.isfile(path):
            return path
    return None


def register_cjk_font() -> Optional[str]:
    """Make matplotlib's generic families draw Chinese.

    matplotlib resolves a generic family ('sans-serif', 'monospace') to one
    font, the first installed one of ``font.sans-serif`` /
    ``font.monospace``; mmpretrain and mmengine draw with these generic
    names. So the CJK font is put first in both lists: the PyPI fonts (Noto
    Sans CJK SC and Noto Sans Mono CJK SC, which also cover Latin), added to
    matplotlib's font manager, or else a system CJK font. Idempotent.

    Returns:
        The sans-serif font file in use, or None when no CJK font is found
        (fruit_ext's own pictures then show English aliases).
    """
    import matplotlib
    from matplotlib import font_manager
    known = {font.fname for font in font_manager.fontManager.ttflist}
    paths = {family: pypi_cjk_font(family) for family in PYPI_CJK_FONTS}
    for path in paths.values():
        if path is not None and path not in known:
            font_manager.fontManager.addfont(path)
            find_cjk_font.cache_clear()
    fallback = find_cjk_font()
    for family, path in paths.items():
        path = path or fallback
        if path is None:
            continue
        name = font_manager.FontProperties(fname=path).get_name()
        names = [n for n in matplotlib.rcParams[f'font.{family}'] if n != name]
        matplotlib.rcParams[f'font.{family}'] = [name] + names
    return paths['sans-serif'] or fallback


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
) -> Tuple[List[str], Optional['FontProperties']]:
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
        from matplotlib.font_manager import FontProperties
        return list(classes), FontProperties(fname=font)
    aliases = aliases or [alias_for(name) for name in classes]
    return list(aliases), None
