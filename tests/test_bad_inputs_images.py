"""Bad image inputs and folders, tried as a careless user would: every case
ends in a clear message naming the file and a non-zero exit code, or in a
correct result that says what it left out. Real files, real processes."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpretrain import get_model
from PIL import Image

from conftest import REPO, run
from fruit_ext.apis import Predictor, collect_images, export_onnx
from fruit_ext.apis import preprocess_spec
from fruit_ext.datasets import FRUIT30_CLASSES
from test_loader_parity import smooth_rgb

TINY = '''
_base_ = {base!r}
load_from = None
test_pipeline = [
    dict(type='RobustLoadImageFromFile', min_size=40),
    dict(type='ResizeEdge', scale=48, edge='short', backend={backend!r}),
    dict(type='CenterCrop', crop_size=40),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(backbone=dict(widen_factor=0.35), head=dict(in_channels=1280))
'''


def tiny_model_files(folder: Path, backend: str = 'pillow'):
    """A small config and a random checkpoint that fits it.

    The batch-norm statistics are measured on random images (a freshly
    initialised MobileNetV2 has near-zero features, so its scores would not
    depend on the input).

    Args:
        folder: Where to write them.
        backend: Resize backend of the test pipeline.

    Returns:
        (config, checkpoint) paths as strings.
    """
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f'tiny_{backend}.py'
    config.write_text(TINY.format(
        base=str(REPO / 'configs' / 'mobilenet-v2_fruit.py'),
        backend=backend))
    torch.manual_seed(0)
    model = get_model(str(config))
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # plain average over the batch
            module.reset_running_stats()
    model.train()
    with torch.no_grad():
        model.extract_feat(torch.randn(16, 3, 40, 40))
    checkpoint = folder / f'tiny_{backend}.pth'
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': {'classes': list(FRUIT30_CLASSES)}}},
               checkpoint)
    return str(config), str(checkpoint)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return tiny_model_files(tmp_path_factory.mktemp('tiny'))


@pytest.fixture(scope='module')
def photos(tmp_path_factory) -> Path:
    """Two good images, a GIF, a file without extension, an empty JPEG."""
    folder = tmp_path_factory.mktemp('bad_photos')
    Image.fromarray(smooth_rgb(120, 100, seed=3)).save(folder / 'a.jpg')
    Image.fromarray(smooth_rgb(90, 110, seed=4)).save(folder / 'b.png')
    Image.fromarray(smooth_rgb(60, 60, seed=5)).save(folder / 'c.gif')
    Image.fromarray(smooth_rgb(60, 60, seed=6)).save(folder / 'noext',
                                                     format='JPEG')
    (folder / 'empty.jpg').write_bytes(b'')
    return folder


@pytest.fixture(scope='module')
def onnx_file(tiny, tmp_path_factory) -> str:
    config, checkpoint = tiny
    model = get_model(config, pretrained=checkpoint)
    return export_onnx(
        model, str(tmp_path_factory.mktemp('bad_onnx') / 'tiny.onnx'),
        FRUIT30_CLASSES, preprocess_spec(model._config, model),
        sample_size=(40, 40))


def test_check_refuses_a_root_without_class_folders(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    result = run([sys.executable, 'tools/dataset/check.py', str(empty),
                  '--workers', '1'], check=False)
    assert result.returncode == 1
    assert f'no class folders in {empty}: expected ROOT/<class>/*.jpg or ' \
        'ROOT/{train,val}/<class>/*.jpg' in result.stdout
    assert 'No errors' not in result.stdout


def test_check_says_images_sit_directly_in_the_root(tmp_path):
    flat = tmp_path / 'flat'
    flat.mkdir()
    for i in range(3):
        Image.fromarray(smooth_rgb(40, 40, seed=i)).save(flat / f'{i}.jpg')
    result = run([sys.executable, 'tools/dataset/check.py', str(flat),
                  '--workers', '1'], check=False)
    assert result.returncode == 1
    assert f'3 image(s) sit directly in {flat} (0.jpg, 1.jpg, 2.jpg): move ' \
        'them into one folder per class' in result.stdout


def test_check_reports_skipped_and_loose_files(tmp_path, photos):
    root = tmp_path / 'root'
    (root / 'apple').mkdir(parents=True)
    for name in ('a.jpg', 'c.gif', 'noext'):
        (root / 'apple' / name).write_bytes((photos / name).read_bytes())
    (root / 'stray.png').write_bytes((photos / 'b.png').read_bytes())
    result = run([sys.executable, 'tools/dataset/check.py', str(root),
                  '--workers', '1'], check=False)
    assert result.returncode == 0, result.stdout
    assert '1 file(s) skipped: unsupported extension .gif' in result.stdout
    assert '1 file(s) skipped: no extension' in result.stdout
    assert f'1 image(s) directly in {root} are in no class folder and are ' \
        'ignored' in result.stdout
    report = json.loads((root / 'check_report.json').read_text())
    kinds = {f['kind']: f['paths'] for f in report['findings']}
    assert kinds['loose-images'] == ['stray.png']
    assert report['summary']['skipped'] == 2


def test_resize_lists_files_it_does_not_copy(tmp_path, photos):
    out = tmp_path / 'out'
    result = run([sys.executable, 'tools/dataset/resize.py', str(photos),
                  str(out), '--workers', '1'], check=False)
    text = ' '.join(result.stdout.split())
    assert f'not copied {photos / "c.gif"}: skipped: unsupported extension ' \
        '.gif' in text
    assert f'not copied {photos / "noext"}: skipped: no extension' in text
    assert '2 not copied (no image extension)' in text
    assert result.returncode == 1  # for empty.jpg, left out as broken
    assert sorted(p.name for p in out.iterdir()) == ['a.jpg', 'b.png']


@pytest.mark.parametrize('value', ['0', '-3'])
def test_resize_refuses_a_max_side_below_one(tmp_path, photos, value):
    out = tmp_path / 'out'
    result = run([sys.executable, 'tools/dataset/resize.py', str(photos),
                  str(out), '--max-side', value], check=False)
    assert result.returncode == 2
    assert f"argument --max-side: must be a whole number of pixels >= 1 " \
        f"(e.g. 640), got '{value}'" in result.stdout
    assert not out.exists()


def test_shrink_api_refuses_a_max_side_below_one(tmp_path, photos):
    from fruit_ext.datasets.shrink import shrink_dataset
    with pytest.raises(ValueError, match='max_side must be at least 1 px'):
        shrink_dataset(str(photos), str(tmp_path / 'out'), 0, workers=1)


def test_predictor_refuses_topk_zero(onnx_file, photos):
    result = run([sys.executable, 'fruit_ext/apis/predictor.py', onnx_file,
                  str(photos / 'a.jpg'), '--topk', '0'], check=False)
    assert result.returncode == 2
    assert "argument --topk: must be a whole number >= 1, got '0'" in \
        result.stdout
    with pytest.raises(ValueError, match='topk must be a whole number >= 1'):
        Predictor(onnx_file)(str(photos / 'a.jpg'), topk=0)


def test_predictor_names_an_empty_file(onnx_file, photos):
    empty = photos / 'empty.jpg'
    result = run([sys.executable, 'fruit_ext/apis/predictor.py', onnx_file,
                  str(photos / 'a.jpg'), str(empty)], check=False)
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()
             if line.startswith('{')]
    assert lines[0]['topk'] and lines[1]['image'] == str(empty)
    assert lines[1]['error'].startswith(
        f'Cannot read image {empty}: empty file (0 bytes)')


def test_folder_scan_reports_skipped_files(photos):
    paths, problems = collect_images([str(photos)])
    assert sorted(Path(p).name for p in paths) == ['a.jpg', 'b.png',
                                                   'empty.jpg']
    reasons = {Path(path).name: reason for path, reason in problems}
    assert reasons['c.gif'].startswith('unsupported extension .gif')
    assert reasons['noext'].startswith('no extension')
    _, problems = collect_images([str(photos / '*')])  # a glob alike
    assert {Path(p).name for p, _ in problems} == {'c.gif', 'noext'}


def test_infer_tool_lists_skipped_files(tiny, photos):
    config, checkpoint = tiny
    result = run([sys.executable, 'tools/infer.py', config, checkpoint,
                  str(photos)], check=False)
    assert result.returncode == 0, result.stdout
    text = re.sub(r'\s+', ' ', result.stdout)
    assert f'skipped {photos / "c.gif"}: unsupported extension .gif' in text
    assert f'skipped {photos / "noext"}: no extension' in text
    assert f'skipped {photos / "empty.jpg"}' in text
    assert '2 predicted (0 unknown), 3 skipped' in text


def test_image_demo_names_an_empty_file(tiny, photos):
    config, checkpoint = tiny
    result = run([sys.executable, 'tools/image_demo.py',
                  str(photos / 'empty.jpg'), config, checkpoint],
                 check=False)
    assert result.returncode == 1
    assert f'error: {photos / "empty.jpg"}: empty file (0 bytes)' in \
        result.stdout
    assert '!buf.empty()' not in result.stdout
    assert 'Traceback' not in result.stdout


def test_export_verify_exits_1_when_the_predictor_disagrees(tmp_path,
                                                            photos):
    """A cv2 resize in the test pipeline: the Predictor (Pillow) sees other
    pixels, so its scores differ; that must fail the export check."""
    config, checkpoint = tiny_model_files(tmp_path, 'cv2')
    result = run([sys.executable, 'tools/deploy/export_onnx.py', config,
                  checkpoint, '--out', str(tmp_path / 'm.onnx'), '--verify',
                  str(photos / 'a.jpg'), str(photos / 'b.png')], check=False)
    assert result.returncode == 1, result.stdout
    assert 'max |logit difference| PyTorch vs onnxruntime' in result.stdout
    assert re.search(r'error: .*a\.jpg: Predictor says \S+ \([\d.]+\), '
                     r'PyTorch \S+ \([\d.]+\); \|score difference\|',
                     result.stdout)
    assert 'scores within tolerance on 0/2' in result.stdout
    assert "use backend='pillow' in the test pipeline" in result.stdout


def test_export_verify_agrees_on_awkward_files_and_refuses_empty(
        tiny, photos, tmp_path):
    config, checkpoint = tiny
    awkward = tmp_path / 'awkward'
    grey16 = (np.linspace(0, 65535, 60 * 50).reshape(50, 60)).astype(
        np.uint16)
    awkward.mkdir()
    Image.fromarray(grey16).save(awkward / 'grey16.png')
    rgba = np.dstack([smooth_rgb(60, 50, 7), np.full((50, 60), 255,
                                                     np.uint8)])
    rgba[:, :30, 3] = 0
    Image.fromarray(rgba).save(awkward / 'alpha.png')
    Image.fromarray(smooth_rgb(60, 50, 8)).convert('CMYK').save(
        awkward / 'cmyk.jpg')
    images = [str(p) for p in sorted(awkward.iterdir())]
    out = tmp_path / 'ok.onnx'
    result = run([sys.executable, 'tools/deploy/export_onnx.py', config,
                  checkpoint, '--out', str(out), '--verify', *images])
    assert 'Predictor top-1 agrees on 3/3' in result.stdout
    empty = run([sys.executable, 'tools/deploy/export_onnx.py', config,
                 checkpoint, '--out', str(out), '--verify',
                 str(photos / 'empty.jpg')], check=False)
    assert empty.returncode == 1
    assert f'error: cannot verify on {photos / "empty.jpg"}: empty file' \
        in empty.stdout
