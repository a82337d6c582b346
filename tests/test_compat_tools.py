"""Compat fixes for mmpretrain's tools and the CJK font: each fix works, and
the upstream failure comes back without it."""
import argparse
import subprocess
import sys
import textwrap

import matplotlib
import pytest
import torch
from matplotlib import font_manager

import fruit_ext  # noqa: F401  (applies the fixes)
from fruit_ext.compat import (browse_dataset_bbox, grad_cam_use_cuda,
                              torchserve_config_file, tsne_n_iter,
                              visualizer_scope)
from fruit_ext.visualization import fonts


def python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (stdout and stderr merged)."""
    return subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=300,
                          env={'MPLBACKEND': 'Agg', 'OMP_NUM_THREADS': '1',
                               'PATH': '/usr/bin:/bin'})


def test_universal_visualizer_takes_scope_key():
    from mmpretrain.visualization import UniversalVisualizer
    visualizer = UniversalVisualizer(name='scope-fixed', _scope_='mmpretrain')
    assert visualizer.instance_name == 'scope-fixed'
    visualizer_scope.revert()
    try:
        with pytest.raises(TypeError, match='_scope_'):
            UniversalVisualizer(name='scope-broken', _scope_='mmpretrain')
    finally:
        visualizer_scope.apply()


def test_adjust_bbox_gets_the_figure_renderer():
    from matplotlib import transforms
    from matplotlib._tight_bbox import adjust_bbox
    assert browse_dataset_bbox.needs_renderer(adjust_bbox)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    figure = matplotlib.figure.Figure()
    FigureCanvasAgg(figure)  # browse_dataset's figures are Agg ones too
    figure.add_subplot().plot([0, 1])
    bbox = transforms.Bbox([[0, 0], [2, 2]])
    with pytest.raises(TypeError, match='renderer'):
        adjust_bbox(figure, bbox)  # what browse_dataset calls
    restore = browse_dataset_bbox._with_renderer(adjust_bbox)(figure, bbox)
    assert figure.bbox_inches.bounds == (0, 0, 2, 2)
    restore()


def test_tsne_takes_n_iter_after_a_later_import():
    result = python('''
        import sys
        import fruit_ext
        assert 'sklearn.manifold' not in sys.modules  # not imported by us
        from sklearn.manifold import TSNE
        print('max_iter', TSNE(n_iter=250).get_params()['max_iter'])
        from fruit_ext.compat import tsne_n_iter
        tsne_n_iter.revert()
        try:
            TSNE(n_iter=250)
        except TypeError as error:
            print('without fix:', error)
    ''')
    assert 'max_iter 250' in result.stdout, result.stdout
    assert 'n_iter is passed as max_iter' in result.stdout
    assert "without fix: TSNE.__init__() got an unexpected keyword " \
        "argument 'n_iter'" in result.stdout


def test_grad_cam_takes_use_cuda():
    import pytorch_grad_cam as cam  # extras [analysis], set-up installs
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    for cam_class in (cam.GradCAM, cam.GradCAMPlusPlus, cam.ScoreCAM):
        cam_class(model=model, target_layers=[model[0]], use_cuda=False)
    with pytest.raises(ValueError, match='model is on another device'):
        cam.GradCAM(model=model, target_layers=[model[0]], use_cuda=True)
    grad_cam_use_cuda.revert()
    try:
        with pytest.raises(TypeError, match='use_cuda'):
            cam.GradCAM(model=model, target_layers=[model[0]],
                        use_cuda=False)
    finally:
        grad_cam_use_cuda.apply()


def test_model_archiver_takes_old_namespace(tmp_path):
    from model_archiver.model_packaging_utils import ModelExportUtils

    def old_style_args() -> argparse.Namespace:  # mmpretrain2torchserve's
        return argparse.Namespace(
            model_file='config.py', serialized_file='model.pth',
            handler='handler.py', model_name='fruit', version='1.0',
            export_path=str(tmp_path), force=False, requirements_file=None,
            extra_files=None, runtime='python', archive_format='default')

    manifest = ModelExportUtils.generate_manifest_json(old_style_args())
    assert '"modelName": "fruit"' in manifest
    torchserve_config_file.revert()
    try:
        with pytest.raises(AttributeError, match='config_file'):
            ModelExportUtils.generate_manifest_json(old_style_args())
    finally:
        torchserve_config_file.apply()


def test_pypi_cjk_font_is_registered_first():
    path = fonts.pypi_cjk_font()
    assert path is not None and 'mplfonts' in path
    assert fonts.find_cjk_font() == path
    for family in ('sans-serif', 'monospace'):
        found = font_manager.findfont(
            font_manager.FontProperties(family=[family]))
        assert found == fonts.pypi_cjk_font(family)


def test_chinese_draws_without_any_system_cjk_font():
    """Only matplotlib's own fonts plus what fruit_ext registers: the
    generic families mmengine and mmpretrain draw with cover Chinese."""
    result = python('''
        import warnings
        import matplotlib
        from matplotlib import font_manager
        manager = font_manager.fontManager
        own = matplotlib.get_data_path()
        manager.ttflist = [f for f in manager.ttflist
                           if f.fname.startswith(own)]  # no system fonts
        import matplotlib.pyplot as plt

        def draw(when):
            for family in ('sans-serif', 'monospace'):
                figure = plt.figure()
                figure.text(0.1, 0.5, '哈密瓜 苹果-红', family=family)
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter('always')
                    figure.canvas.draw()
                print(when, family, len(caught), 'warnings',
                      [str(w.message) for w in caught][:1])

        draw('before')
        import fruit_ext
        draw('after')
    ''')
    assert 'before sans-serif 6 warnings' in result.stdout, result.stdout  # 6 hanzi
    assert 'missing from font(s) DejaVu Sans Mono' in result.stdout
    assert 'after sans-serif 0 warnings' in result.stdout, result.stdout
    assert 'after monospace 0 warnings' in result.stdout, result.stdout


def test_english_aliases_without_any_cjk_font():
    result = python('''
        import sys
        import matplotlib
        from matplotlib import font_manager
        manager = font_manager.fontManager
        own = matplotlib.get_data_path()
        manager.ttflist = [f for f in manager.ttflist
                           if f.fname.startswith(own)]  # no system fonts
        sys.modules['mplfonts'] = None  # nor the PyPI font
        import fruit_ext
        from fruit_ext.visualization import display_labels, find_cjk_font
        print('font', find_cjk_font())
        print('labels', display_labels(['香蕉', '苹果-红']))
    ''')
    assert 'font None' in result.stdout, result.stdout
    assert "labels (['banana', 'red apple'], None)" in result.stdout
