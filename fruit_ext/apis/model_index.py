"""Register fruit_ext's model index with mmpretrain's ``ModelHub``.

After ``import fruit_ext`` the package's models resolve by name everywhere
mmpretrain takes a model name::

    mmpretrain.list_models('*fruit*')
    mmpretrain.get_model('mobilenet-v2_fruit30', pretrained='best.pth')
    mmpretrain.inference_model('mobilenet-v2_fruit30', 'apple.jpg',
                               pretrained='best.pth')

A checkpoint that was trained with another indexed config (the 64 px demo
checkpoint given to ``mobilenet-v2_fruit30``) is refused with the name that
fits it (``mobilenet-v2_fruit30-demo``).
    ImageClassificationInferencer('mobilenet-v2_fruit30',
                                  pretrained='best.pth')

The index lives in ``fruit_ext/.mim/model-index.yml``, the layout mmpretrain
uses for its own installed package. ``fruit_ext/.mim/configs`` links to the
repository's ``configs/``, so the config paths in the metafiles resolve in an
editable install and in a wheel (where the configs are copied as package
data) alike.
"""
import os.path as osp
from pathlib import Path
from typing import List

from mmpretrain.apis import ModelHub

from .checked_loading import install_checked_get_model

MIM_ROOT = Path(__file__).resolve().parents[1] / '.mim'
MODEL_INDEX = MIM_ROOT / 'model-index.yml'


def registered_models() -> List[str]:
    """Names of the models registered from fruit_ext's index.

    Returns:
        Lower-case model names, sorted.
    """
    root = osp.join(MIM_ROOT, '')
    return sorted(name for name, meta in ModelHub._models_dict.items()
                  if osp.abspath(meta.filepath).startswith(root))


def register_model_index() -> List[str]:
    """Register the package's ``model-index.yml`` once per process.

    Also makes ``get_model`` (so the inferencers too) check that a local
    checkpoint fits the model, and that a checkpoint given with an index name
    was trained with that name's config (else the message names the one it
    was trained with).

    Returns:
        The names of fruit_ext's models in the hub.

    Raises:
        FileNotFoundError: The index or the configs it points at are missing
            (a broken install).
    """
    install_checked_get_model()
    if registered_models():
        return registered_models()
    if not (MIM_ROOT / 'configs').is_dir():
        raise FileNotFoundError(
            f'fruit_ext: {MIM_ROOT / "configs"} is missing, so the model '
            'index cannot resolve its configs. Reinstall fruit_ext '
            '(`pip install -e .` from the repository).')
    ModelHub.register_model_index(MODEL_INDEX, config_prefix=MIM_ROOT)
    return registered_models()
