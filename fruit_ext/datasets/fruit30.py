"""The fruit30 dataset in folder format: ``{data_root}/{split}/<class>/*``."""
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.fileio import list_from_file
from mmpretrain.datasets import CustomDataset
from mmpretrain.datasets.custom import get_samples
from mmpretrain.registry import DATASETS

from .categories import FRUIT30_CLASSES, alias_for
from .hidden import class_folders, describe_hidden, is_hidden, walk_visible
from .skip_broken import ON_BROKEN, get_skipping_broken

IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
SPLITS = ('train', 'val', 'test')
DEMO_HINT = ('Download fruit30 (fruit30_split.zip from the OpenMMLab course, '
             'lesson 3) and unpack it so that {root}/train/<class>/*.jpg '
             'exist, set `data_root` to where it is, or generate the built-in '
             'demo set: python tools/dataset/make_demo_fruit30.py')


def holdout_source(data_root: str, data_prefix: Union[str, dict], split: str,
                   holdout: Optional[dict]) -> Optional[Tuple[str, dict]]:
    """Where an on-the-fly split comes from, if one is needed.

    Args:
        data_root: Dataset root.
        data_prefix: The split's sub-folder.
        split: 'train', 'val' or 'test'.
        holdout: ``dict(ratio, seed)`` or None.

    Returns:
        ``(source folder, holdout settings)``, or None when the split's own
        folder exists (or no holdout is configured).
    """
    prefix = data_prefix if isinstance(data_prefix, str) else \
        data_prefix.get('img_path', '')
    if not holdout or osp.isdir(osp.join(data_root, prefix)) or \
            split not in SPLITS:
        return None
    settings = dict(ratio=0.2, seed=0)
    settings.update(holdout)
    if not 0 < settings['ratio'] < 1:
        raise ValueError(f'Fruit30: holdout ratio must be between 0 and 1, '
                         f'got {settings["ratio"]}')
    train = osp.join(data_root, 'train')
    if osp.isdir(train):
        return train, settings
    if osp.isdir(data_root) and not any(
            osp.isdir(osp.join(data_root, name)) for name in SPLITS):
        return data_root, settings  # class folders directly in the root
    return None


@DATASETS.register_module()
class Fruit30(CustomDataset):
    """fruit30: one folder per class, Chinese folder names.

    Labels follow the order of ``classes``. The class folders found on disk
    are checked against it; a mismatch fails with the missing and unexpected
    folder names. Hidden files and folders (names starting with '.', such as
    ``.git`` or macOS's ``._photo.jpg``) are skipped and logged. A class
    without any training image is an error (the model could not learn it).

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
        holdout: When the split's folder does not exist, make the train/val
            split on the fly from ``{data_root}/train`` (or from class
            folders directly under ``data_root``): ``dict(ratio=0.2,
            seed=0)`` holds out that share of every class for 'val' with
            the rules of ``tools/dataset/split.py`` (stratified, seeded,
            independent of listing order); ``record=PATH`` (FruitRunner
            sets ``{work_dir}/holdout_split.json``) keeps the images of an
            earlier run of the work dir in their split. None: the folder
            must exist.
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
                 holdout: Optional[dict] = None,
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
        self.split = split
        self.holdout = holdout_source(data_root, data_prefix, split, holdout)
        if classes is not None or 'classes' in metainfo:
            names = self.resolve_classes(
                classes if classes is not None else metainfo['classes'],
                self.holdout[0] if self.holdout else osp.join(
                    data_root, data_prefix if isinstance(data_prefix, str)
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
    def resolve_classes(classes: Union[str, Sequence[str]],
                        img_prefix: str) -> Tuple[str, ...]:
        """Class names from a list, a text file or ``'folders'``.

        Args:
            classes: Names, a file with one name per line, or ``'folders'``
                (the sorted sub-folders of ``img_prefix``).
            img_prefix: The folder holding the class folders.

        Returns:
            The class names, in label order.

        Raises:
            ValueError: A list or file that names no class, or a name twice
                (two labels for one folder: one would never be trained).
        """
        if classes == 'folders':
            if not osp.isdir(img_prefix):
                raise FileNotFoundError(
                    f'Fruit30: {img_prefix} does not exist, so no class '
                    'folders can be read from it.')
            return tuple(class_folders(img_prefix))
        source = 'the classes list'
        if isinstance(classes, str):
            if not osp.isfile(classes):
                raise FileNotFoundError(
                    f'Fruit30: class list file {classes} does not exist '
                    "(pass a list of names, a file, or 'folders').")
            source = classes
            # utf-8-sig: a byte-order mark (Windows Notepad) is not part of
            # the first name
            classes = [line.strip() for line in list_from_file(
                classes, encoding='utf-8-sig') if line.strip()]
        names = tuple(classes)
        twice = sorted({name for name in names if names.count(name) > 1})
        if not names or twice:
            raise ValueError(
                f'Fruit30: {source} names ' + (
                    f'{twice} more than once' if twice else 'no class')
                + ': list each class folder once, in label order.')
        return names

    def is_valid_file(self, filename: str) -> bool:
        """An image file with a loaded extension and no hidden part."""
        return not is_hidden(filename) and super().is_valid_file(filename)

    def __getitem__(self, idx: int) -> dict:
        if self.on_broken == 'skip':
            return get_skipping_broken(self, idx)
        return super().__getitem__(idx)

    def _check_class_folders(self, folder: str) -> Tuple[str, ...]:
        classes = tuple(self.metainfo['classes'])
        found = class_folders(folder)
        missing = [c for c in classes if c not in found]
        unexpected = [f for f in found if f not in classes]
        if missing or unexpected:
            raise ValueError(
                f'Fruit30: class folders in {folder} do not match the '
                f'{len(classes)} expected classes. Missing: '
                f'{missing or "none"}. Unexpected: {unexpected or "none"}. '
                'For your own class set pass `classes=[...]` (or a text file) '
                "in the dataset config, or `classes='folders'` to use the "
                'folder names (configs/folder/ do this for you).')
        return classes

    def _holdout_samples(self) -> List[Tuple[str, int]]:
        """This split's share of a split made on the fly (see holdout)."""
        from mmengine.logging import MMLogger

        from .split import plan_split
        source, settings = self.holdout
        classes = self._check_class_folders(source)
        ratio = settings['ratio']
        plan = plan_split(source, (1 - ratio, ratio), seed=settings['seed'],
                          extensions=self.extensions)
        kept = None
        if settings.get('record'):
            from .holdout_record import keep_recorded
            plan, *kept = keep_recorded(plan, settings['record'], ratio,
                                        settings['seed'])
        part = plan.files['val' if self.split in ('val', 'test') else 'train']
        # absolute: CustomDataset joins them to this split's (absent) folder
        samples = [(osp.abspath(osp.join(source, name, relative)), index)
                   for index, name in enumerate(classes)
                   for relative in part.get(name, [])]
        self.folder_to_idx = {name: i for i, name in enumerate(classes)}
        if not samples:
            raise RuntimeError(
                f'Fruit30: the {self.split} share of {source} is empty '
                f'(holdout ratio {ratio}); add images or lower the ratio.')
        self._refuse_untrainable(source, [name for name in classes
                                          if not plan.files['train'][name]])
        logger = MMLogger.get_current_instance()
        logger.info(
            f'Fruit30: no {self.split}/ folder under {self._data_root_arg}; '
            f'{self.split} split made on the fly from {source}: '
            f'{ratio:.0%} of every class held out for val (seed '
            f'{settings["seed"]}), {len(samples)} images for {self.split}.')
        for warning in plan.warnings:
            logger.warning(f'Fruit30: {warning}')
        if plan.hidden:
            logger.info(f'Fruit30: {source}: {describe_hidden(plan.hidden)}')
        if kept:
            (logger.warning if kept[1] else logger.info)(
                f'Fruit30: {kept[0]}')
        return samples

    def _find_samples(self) -> List[Tuple[str, int]]:
        if self.holdout:
            return self._holdout_samples()
        img_prefix = self.img_prefix
        if not osp.isdir(img_prefix):
            root = self._data_root_arg or img_prefix
            raise FileNotFoundError(
                f'Fruit30: image folder {img_prefix} does not exist. '
                + DEMO_HINT.format(root=root))
        classes = self._check_class_folders(img_prefix)
        folder_to_idx = {name: index for index, name in enumerate(classes)}
        samples, empty = get_samples(
            img_prefix, folder_to_idx, is_valid_file=self.is_valid_file)
        self.folder_to_idx = folder_to_idx
        if not samples:
            raise RuntimeError(
                f'Fruit30: found no images under {img_prefix} (extensions: '
                f'{", ".join(sorted(self.extensions))}).')
        self._refuse_untrainable(img_prefix, sorted(empty))
        from mmengine.logging import MMLogger
        logger = MMLogger.get_current_instance()
        if empty:
            logger.warning(f'Fruit30: no images in class folders '
                           f'{sorted(empty)} under {img_prefix}.')
        hidden = walk_visible(img_prefix)[1]
        if hidden:
            logger.info(f'Fruit30: {img_prefix}: {describe_hidden(hidden)}')
        return samples

    def _refuse_untrainable(self, folder: str, empty: List[str]) -> None:
        """A training split must hold an image of every class."""
        if self.split != 'train' or not empty:
            return
        raise ValueError(
            f'Fruit30: class folder(s) {empty} under {folder} give no '
            'training image (extensions loaded: '
            f'{", ".join(sorted(self.extensions))}), so the model could not '
            'learn those classes. Add images (convert other formats such as '
            'HEIC to JPEG), or remove the folder(s) or leave them out of '
            '`classes` / classes.txt. `python tools/dataset/check.py '
            f'{self._data_root_arg}` lists what each folder holds.')
