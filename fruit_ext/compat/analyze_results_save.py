"""Pictures and JSON of mmpretrain's analyze_results that match its results.

Upstream bug (mmpretrain 1.2.0 ``tools/analysis_tools/analyze_results.py``,
run by ``mim run mmpretrain analyze_results``), in its ``save_imgs``:

* each picture is named after the image's file name only, so in a
  class-folder dataset (``train/<class>/0.jpg`` in every class, as fruit30's
  layout allows) pictures of different images overwrite each other and
  ``fail/`` holds fewer pictures than failures, without a word;
* ``dump_infos.append(dump)`` sits inside the loop over a sample's fields,
  so ``success.json`` / ``fail.json`` repeat every sample once per field.

The fix applies only in a running analyze_results script of mmpretrain
1.2.0 (the last release, checked): its ``save_imgs`` is replaced by the same
function with pictures named ``<sample index>_<file name>.png`` and one JSON
entry per sample (which also names its ``sample_idx`` and ``img_path``). The script binds ``save_imgs`` before ``fruit_ext`` is
imported through the config's ``custom_imports``, and calls it afterwards.
"""
import os.path as osp
import sys
from pathlib import Path
from typing import Any, List, Optional

from ._log import log_once

TOOL = osp.join('analysis_tools', 'analyze_results.py')
LAST_BUGGY_VERSION = '1.2.0'  # the bug is in every release up to this one
_state: dict = {'module': None, 'original': None}


def save_imgs(result_dir: str, folder_name: str, results: List[Any],
              dataset: Any, rescale_factor: Optional[float] = None) -> None:
    """mmpretrain's ``save_imgs`` with unique names and one entry per sample.

    Args:
        result_dir: The tool's ``--out-dir``.
        folder_name: 'success' or 'fail'.
        results: ``DataSample`` objects to draw and dump.
        dataset: The test dataset.
        rescale_factor: Optional image rescale factor.
    """
    import mmcv
    import mmengine
    import torch
    from mmpretrain.visualization import UniversalVisualizer

    full_dir = osp.join(result_dir, folder_name)
    vis = UniversalVisualizer()
    vis.dataset_meta = {'classes': dataset.CLASSES}
    dump_infos = []
    for data_sample in results:
        data_info = dataset.get_data_info(data_sample.sample_idx)
        if 'img' in data_info:
            img = data_info['img']
            name = str(data_sample.sample_idx)
        elif 'img_path' in data_info:
            img = mmcv.imread(data_info['img_path'], channel_order='rgb')
            name = f'{data_sample.sample_idx}_{Path(data_info["img_path"]).name}'
        else:
            raise ValueError('Cannot load images from the dataset infos.')
        if rescale_factor is not None:
            img = mmcv.imrescale(img, rescale_factor)
        vis.visualize_cls(
            img, data_sample, out_file=osp.join(full_dir, name + '.png'))
        dump = {'sample_idx': data_sample.sample_idx,
                'img_path': data_info.get('img_path')}
        dump.update({
            key: value.tolist() if isinstance(value, torch.Tensor) else value
            for key, value in data_sample.items()})
        dump_infos.append(dump)
    mmengine.dump(dump_infos, osp.join(full_dir, folder_name + '.json'))


def apply() -> None:
    """Fix ``save_imgs`` in a running analyze_results script (idempotent)."""
    import mmpretrain
    script = sys.modules.get('__main__')
    path = getattr(script, '__file__', None) or ''
    if (not path.endswith(TOOL) or _state['original'] is not None
            or not callable(getattr(script, 'save_imgs', None))
            or mmpretrain.__version__ != LAST_BUGGY_VERSION):
        return
    _state.update(module=script, original=script.save_imgs)
    script.save_imgs = save_imgs
    log_once('analyze-results-save', 'analyze_results: pictures are named '
             '<sample index>_<file name>.png (same file names in different '
             'class folders overwrote each other) and each sample is '
             'dumped once')


def revert() -> None:
    """Restore the script's ``save_imgs`` (used by tests)."""
    if _state['original'] is not None:
        _state['module'].save_imgs = _state['original']
        _state.update(module=None, original=None)
