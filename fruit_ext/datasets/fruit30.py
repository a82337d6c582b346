"""The fruit30 dataset in folder format: ``{data_root}/{split}/<class>/*``."""
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.fileio import list_from_file
from mmpretrain.datasets import CustomDataset
from mmpretrain.datasets.custom import get_samples
from mmpretrain.registry import DATASETS

from .categories import FRUIT30_CLASSES, alias_for
from .skip_broken import ON_BROKEN, get_skipping_broken

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
SPLITS = ('train', 'val', 'test')
DEMO_HINT = ('Download fruit30 (fruit30_split.zip from the OpenMMLab course, '
             'lesson 3) and unpack it so that {root}/train/<class>/*.jpg '
             'exist, set `data_root` to where it is, or generate the built-in '
             'demo set: python tools/dataset/make_demo_fruit30.py')


def _subfolders(path: str) -> List[str]:
    return sorted(entry.name for entry in os.scandir(path) if entry.is_dir())


@DATASETS.register_module()
class Fruit30(CustomDataset):
    """fruit30: one folder per class, Chinese folder names.

    Labels follow the order of ``classes``. The class folders found on disk
    are checked against it; a mismatch fails with the missing and unexpected
    folder names.

    Args:
        data_root: Dataset root holding ``train/``, ``val/`` (and ``test/``).
        split: 'train', 'val' or 'test'; used as ``data_prefix`` when that is
            empty.
        data_prefix: Sub-folder of ``data_root`` holding the class folders.
        classes: None for the 30 canonical fruit30 classes; a list of names
            or a text file with one name per line for your own class set; or
            'folders' to use whatever class folders exist (sorted).
        extensions: Image file extensions to accept.
        on_broken: What an image that cannot be decoded does: 'raise' stops
            with an error naming the file; 'skip' logs it and serves another
            sample (needs ``RobustLoadImageFromFile`` in the pipeline; add
            ``BrokenImageLogHook`` for a count per epoch).
        **kwargs: Other arguments of :class:`mmpretrain.datasets.CustomDataset`.
    """

    METAINFO = {
        'classes': FRUIT30_CLASSES,
        'aliases': tuple(alias_for(c) for c in FRUIT30_CLASSES)
    }

    def __init__(self,
                 data_root: str = 'data/fruit30_split',
                 split: str = '',
                 data_prefix: Union[str, dict] = '',
                 classes: Optional[Union[str, Sequence[str]]] = None,
                 extensions: Sequence[str] = IMG_EXTENSIONS,
                 metainfo: Optional[dict] = None,
                 on_broken: str = 'raise',
                 **kwargs):
        if on_broken not in ON_BROKEN:
            raise ValueError(f'Fruit30: on_broken must be one of '
                             f'{ON_BROKEN}, got {on_broken!r}')
        self.on_broken = on_broken
        if split and split not in SPLITS:
            raise ValueError(f'Fruit30: split must be one of {SPLITS}, '
                             f'got {split!r}')
        data_prefix = data_prefix or split
        metainfo = dict(metainfo or {})
        self._data_root_arg = data_root
        if classes is not None or 'classes' in metainfo:
            names = self._resolve_classes(
                classes if classes is not None else metainfo['classes'],
                osp.join(data_root, data_prefix if isinstance(data_prefix, str)
                         else data_prefix.get('img_path', '')))
            metainfo['classes'] = names
            metainfo['aliases'] = tuple(alias_for(c) for c in names)
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix,
            extensions=extensions,
            metainfo=metainfo,
            **kwargs)

    @staticmethod
    def _resolve_classes(classes: Union[str, Sequence[str]],
                         img_prefix: str) -> Tuple[str, ...]:
        if classes == 'folders':
            if not osp.isdir(img_prefix):
                raise FileNotFoundError(
                    f'Fruit30: {img_prefix} does not exist, so no class '
                    'folders can be read from it.')
            return tuple(_subfolders(img_prefix))
        if isinstance(classes, str):
            if not osp.isfile(classes):
                raise FileNotFoundError(
                    f'Fruit30: class list file {classes} does not exist '
                    "(pass a list of names, a file, or 'folders').")
            return tuple(line.strip() for line in list_from_file(classes)
                         if line.strip())
        return tuple(classes)

    def __getitem__(self, idx: int) -> dict:
        if self.on_broken == 'skip':
            return get_skipping_broken(self, idx)
        return super().__getitem__(idx)

    def _find_samples(self) -> List[Tuple[str, int]]:
        img_prefix = self.img_prefix
        if not osp.isdir(img_prefix):
            root = self._data_root_arg or img_prefix
            raise FileNotFoundError(
                f'Fruit30: image folder {img_prefix} does not exist. '
                + DEMO_HINT.format(root=root))
        classes = tuple(self.metainfo['classes'])
        found = _subfolders(img_prefix)
        missing = [c for c in classes if c not in found]
        unexpected = [f for f in found if f not in classes]
        if missing or unexpected:
            raise ValueError(
                f'Fruit30: class folders in {img_prefix} do not match the '
                f'{len(classes)} expected classes. Missing: '
                f'{missing or "none"}. Unexpected: {unexpected or "none"}. '
                'For your own class set pass `classes=[...]` (or a text file) '
                "in the dataset config, or `classes='folders'` to use the "
                'folder names.')
        folder_to_idx = {name: index for index, name in enumerate(classes)}
        samples, empty = get_samples(
            img_prefix, folder_to_idx, is_valid_file=self.is_valid_file)
        self.folder_to_idx = folder_to_idx
        if not samples:
            raise RuntimeError(
                f'Fruit30: found no images under {img_prefix} (extensions: '
                f'{", ".join(sorted(self.extensions))}).')
        if empty:
            from mmengine.logging import MMLogger
            MMLogger.get_current_instance().warning(
                f'Fruit30: no images in class folders {sorted(empty)} under '
                f'{img_prefix}.')
        return samples
