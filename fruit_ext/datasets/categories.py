"""fruit30 class metadata, kept in one place."""
from typing import Dict, Tuple

#: Canonical fruit30 folder names, in label order (sorted folder names, as
#: mmpretrain's ``CustomDataset`` and torchvision's ``ImageFolder`` order them).
FRUIT30_CLASSES: Tuple[str, ...] = (
    '哈密瓜', '圣女果', '山竹', '杨梅', '柚子', '柠檬', '桂圆', '梨', '椰子', '榴莲',
    '火龙果', '猕猴桃', '石榴', '砂糖橘', '胡萝卜', '脐橙', '芒果', '苦瓜', '苹果-红',
    '苹果-青', '草莓', '荔枝', '菠萝', '葡萄-白', '葡萄-红', '西瓜', '西红柿', '车厘子',
    '香蕉', '黄瓜')

#: English alias of each class, same order as :data:`FRUIT30_CLASSES`.
FRUIT30_ALIASES: Tuple[str, ...] = (
    'hami melon', 'cherry tomato', 'mangosteen', 'waxberry', 'pomelo',
    'lemon', 'longan', 'pear', 'coconut', 'durian', 'dragon fruit', 'kiwi',
    'pomegranate', 'tangerine', 'carrot', 'navel orange', 'mango',
    'bitter melon', 'red apple', 'green apple', 'strawberry', 'lychee',
    'pineapple', 'white grape', 'red grape', 'watermelon', 'tomato', 'cherry',
    'banana', 'cucumber')

ALIAS_OF: Dict[str, str] = dict(zip(FRUIT30_CLASSES, FRUIT30_ALIASES))


def alias_for(name: str) -> str:
    """The English alias of a class name (the name itself if none is known).

    Args:
        name: A class (folder) name.

    Returns:
        A Latin-script name that renders with any font.
    """
    return ALIAS_OF.get(name, name)
