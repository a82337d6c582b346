"""Model index, batch inference and analysis tools, on a really trained model."""
import csv
import json
import shutil
import sys
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest
import torch
from mmpretrain import get_model, inference_model, list_models
from mmpretrain.apis import ImageClassificationInferencer, ModelHub
from PIL import Image

from conftest import REPO, run, tiny_config
from fruit_ext.apis import BatchInferencer, collect_images, write_predictions
from fruit_ext.apis.image_inputs import skip_reason
from fruit_ext.apis.model_index import MIM_ROOT, registered_models
from fruit_ext.datasets import FRUIT30_CLASSES

NAME = 'mobilenet-v2_fruit30'
INDEXED = ['efficientnet-lite0-ft_fruit30', 'mobilenet-v2-ft_fruit30',
           'mobilenet-v2_fruit30', 'mobilenet-v2_fruit30-demo']


def train_tiny_model(tmp_path_factory, fruit_tree: Path) -> Tuple[Path, Path]:
    """One real ``mim train`` per test session, shared by the test modules.

    The network is the index's MobileNetV2 (width 1.0, so its checkpoint
    loads into ``mobilenet-v2_fruit30``) trained 2 short epochs at 32 px with
    a learning rate that moves the weights enough for outputs to differ
    between images.

    Returns:
        (config, checkpoint of epoch 2).
    """
    root = tmp_path_factory.getbasetemp() / 'fruit_ext_trained_model'
    config, checkpoint = root / 'tiny.py', root / 'work' / 'epoch_2.pth'
    if not checkpoint.is_file():
        root.mkdir(exist_ok=True)
        tiny_config(config, fruit_tree, work_extra='''
model = dict(backbone=dict(widen_factor=1.0))
train_cfg = dict(max_epochs=2)
train_dataloader.update(batch_size=4)
auto_scale_lr = dict(enable=False)
optim_wrapper = dict(optimizer=dict(lr=0.01))
''')
        run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
             str(root / 'work')], cwd=root)
    return config, checkpoint


def write_photo(path: Path, size: Tuple[int, int], seed: int) -> Path:
    """A JPEG with smooth colour gradients and noise, ``size`` = (w, h)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    pixels = np.stack([x * 255 / w, y * 255 / h,
                       np.full((h, w), rng.integers(0, 255))], axis=-1)
    pixels = pixels + rng.normal(0, 20, pixels.shape)
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope='module')
def trained(tmp_path_factory, fruit_tree):
    return train_tiny_model(tmp_path_factory, fruit_tree)


@pytest.fixture(scope='module')
def indexed_checkpoint(trained, tmp_path_factory) -> Path:
    """The trained weights as if trained with the index's config.

    The index refuses a checkpoint whose stored config (``meta['cfg']``)
    is not its own (tests/test_checkpoint_fit.py): the tiny run's 32 px
    config is replaced by the indexed config, whose network is the same.
    """
    _, checkpoint = trained
    state = torch.load(checkpoint, weights_only=True)
    state['meta']['cfg'] = ModelHub.get(NAME).config.pretty_text
    path = tmp_path_factory.mktemp('indexed') / 'indexed.pth'
    torch.save(state, path)
    return path


@pytest.fixture(scope='module')
def renamed_checkpoint(indexed_checkpoint, tmp_path_factory) -> Path:
    """The trained weights with class names that exist nowhere else."""
    state = torch.load(indexed_checkpoint, weights_only=True)
    state['meta']['dataset_meta'] = dict(
        classes=[f'kind-{i}' for i in range(30)])
    path = tmp_path_factory.mktemp('renamed') / 'renamed.pth'
    torch.save(state, path)
    return path


@pytest.fixture(scope='module')
def photo_folder(tmp_path_factory, fruit_tree) -> Path:
    """Good images (Chinese names, a sub-folder, odd sizes) and bad ones."""
    folder = tmp_path_factory.mktemp('photos')
    (folder / 'sub').mkdir()
    shutil.copy(fruit_tree / 'val' / '香蕉' / '0.jpg', folder / '香蕉照片.jpg')
    write_photo(folder / 'sub' / 'wide.jpg', (80, 48), seed=1)
    write_photo(folder / 'sub' / 'tall.png', (40, 72), seed=2)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
    (folder / 'empty.png').write_bytes(b'')
    (folder / 'notes.txt').write_text('not an image, not listed')
    return folder


GOOD = {'香蕉照片.jpg', 'sub/wide.jpg', 'sub/tall.png'}
BAD = {'broken.jpg', 'empty.png'}


def test_model_index_registered_on_import():
    names = registered_models()
    assert NAME in names and len(names) == len(INDEXED)
    assert sorted(list_models('*fruit*')) == names
    assert NAME in ImageClassificationInferencer.list_models('*fruit*')
    config = ModelHub.get(NAME).config
    assert Path(config.filename) == MIM_ROOT / 'configs' / \
        'mobilenet-v2_fruit.py'


@pytest.mark.parametrize('name', INDEXED)
def test_every_indexed_model_builds_by_name(name):
    model = get_model(name)
    assert Path(model._config.filename).is_file()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 64), mode='tensor').shape == (1, 30)


def test_get_model_by_name_with_local_checkpoint(trained, renamed_checkpoint):
    _, checkpoint = trained
    model = get_model(NAME, pretrained=str(renamed_checkpoint))
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    key = 'backbone.layer7.0.conv.0.conv.weight'
    assert torch.equal(model.state_dict()[key], state[key])
    # class names come from the checkpoint, not from the config's dataset
    assert model._dataset_meta['classes'] == [f'kind-{i}' for i in range(30)]


def test_inference_model_and_inferencer_by_name(indexed_checkpoint,
                                                photo_folder):
    checkpoint = indexed_checkpoint
    image = str(photo_folder / 'sub' / 'wide.jpg')
    result = inference_model(NAME, image, pretrained=str(checkpoint))
    assert result['pred_class'] in FRUIT30_CLASSES
    assert result['pred_scores'].shape == (30, )
    inferencer = ImageClassificationInferencer(NAME, pretrained=str(checkpoint))
    batch = inferencer([image, str(photo_folder / '香蕉照片.jpg')],
                       batch_size=2)
    np.testing.assert_allclose(batch[0]['pred_scores'],
                               result['pred_scores'], atol=1e-6)
    assert not np.allclose(batch[0]['pred_scores'], batch[1]['pred_scores'])


def test_model_index_resolves_from_an_installed_wheel(tmp_path):
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
         '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'),
         str(REPO)])
    wheel = next((tmp_path / 'dist').glob('fruit_ext-*.whl'))
    target = tmp_path / 'site'
    run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q',
         '--target', str(target), str(wheel)])
    code = ('import fruit_ext, mmpretrain\n'
            'from mmpretrain.apis import ModelHub\n'
            'print("PACKAGE=" + fruit_ext.__file__)\n'
            f'print("CONFIG=" + ModelHub.get({NAME!r}).config.filename)\n')
    result = run([sys.executable, '-c', code], cwd=tmp_path,
                 env={'PYTHONPATH': str(target)})
    found = dict(line.split('=', 1) for line in result.stdout.splitlines()
                 if line.startswith(('PACKAGE=', 'CONFIG=')))
    package_file, config_file = found['PACKAGE'], found['CONFIG']
    assert package_file.startswith(str(target))
    assert config_file.startswith(str(target))
    assert Path(config_file).is_file() and not Path(config_file).is_symlink()


def test_collect_images_expands_folders_globs_and_lists(photo_folder,
                                                        tmp_path):
    listing = tmp_path / 'list.txt'
    listing.write_text(f'{photo_folder / "sub" / "wide.jpg"}\n\n'
                       f'{photo_folder / "broken.jpg"}\n')
    paths, problems = collect_images([
        str(photo_folder), str(photo_folder / 'sub' / '*.png'),
        str(listing), str(tmp_path / 'missing'), str(tmp_path / '*.jpg')])
    names = {str(Path(p).relative_to(photo_folder)) for p in paths}
    assert names == GOOD | BAD  # folder: images only; duplicates once
    assert problems == [(str(photo_folder / 'notes.txt'),
                         skip_reason(str(photo_folder / 'notes.txt'))),
                        (str(tmp_path / 'missing'), 'no such file or folder'),
                        (str(tmp_path / '*.jpg'),
                         'pattern matches no image files')]
    assert skip_reason('a/notes.txt').startswith(
        'unsupported extension .txt')


def test_batch_inferencer_threshold_and_csv(trained, photo_folder, tmp_path):
    config, checkpoint = trained
    paths, _ = collect_images([str(photo_folder)])
    inferencer = BatchInferencer(str(config), str(checkpoint), batch_size=2)
    predictions, skipped = inferencer.predict(paths, topk=3, threshold=1.01,
                                              progress=False)
    assert {Path(p).name for p, _ in skipped} == BAD
    # unknown, with the best guess kept
    assert all(p.unknown and p.pred_class in FRUIT30_CLASSES
               for p in predictions)
    out = tmp_path / 'pred.csv'
    write_predictions(predictions, skipped, str(out))
    with open(out, encoding='utf-8-sig') as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == len(GOOD)
    assert rows[0]['unknown'] == 'True'
    assert rows[0]['pred_class'] == rows[0]['top1_class']
    assert rows[0]['top1_class'] in FRUIT30_CLASSES
    assert float(rows[0]['top1_score']) >= float(rows[0]['top2_score'])


def test_infer_tool_on_folder_with_bad_and_chinese_files(
        trained, photo_folder, tmp_path):
    config, checkpoint = trained
    out, show = tmp_path / 'out' / 'pred.json', tmp_path / 'show'
    result = run([sys.executable, 'tools/infer.py', str(config),
                  str(checkpoint), str(photo_folder), '--out', str(out),
                  '--show-dir', str(show), '--topk', '2'])
    for name in BAD:
        assert f'skipped {photo_folder / name}' in result.stdout
    assert f'skipped {photo_folder / "notes.txt"}: unsupported extension ' \
        '.txt' in ' '.join(result.stdout.split())  # rich wraps lines
    assert '3 predicted (0 unknown), 3 skipped' in result.stdout
    assert '香蕉照片.jpg' in result.stdout
    report = json.loads(out.read_text(encoding='utf-8'))
    predicted = {str(Path(p['path']).relative_to(photo_folder)): p
                 for p in report['predictions']}
    assert set(predicted) == GOOD
    assert {Path(s['path']).name for s in report['skipped']} == BAD | {
        'notes.txt'}
    # batched tool results equal mmpretrain's single-image inference
    single = ImageClassificationInferencer(str(config), pretrained=str(
        checkpoint))(str(photo_folder / 'sub' / 'tall.png'))[0]
    tall = predicted['sub/tall.png']
    assert tall['pred_class'] == single['pred_class']
    assert tall['pred_score'] == pytest.approx(single['pred_score'], abs=1e-5)
    assert len(tall['topk']) == 2 and tall['topk'][0]['alias']
    pictures = {str(p.relative_to(show)) for p in show.rglob('*.png')}
    assert pictures == {'香蕉照片.png', 'sub/wide.png', 'sub/tall.png'}
    with Image.open(show / 'sub' / 'wide.png') as picture:
        assert min(picture.size) == 384


def test_plot_curves_from_a_real_run(trained, tmp_path):
    config, checkpoint = trained
    work_dir = checkpoint.parent
    out = tmp_path / 'curves'
    result = run([sys.executable, 'tools/analysis/plot_curves.py',
                  str(work_dir), str(work_dir), '--labels', 'a', 'b',
                  '--out-dir', str(out)])
    for name in ('loss', 'lr', 'accuracy_top1', 'accuracy_top5'):
        with Image.open(out / f'{name}.png') as picture:
            assert picture.format == 'PNG' and picture.size == (640, 420)
    assert 'accuracy/top1:' in result.stdout
    missing = run([sys.executable, 'tools/analysis/plot_curves.py',
                   str(tmp_path)], check=False)
    assert missing.returncode == 1
    assert f'{tmp_path}: no <timestamp>/vis_data/scalars.json' in \
        missing.stdout


def test_eval_report_tool_writes_the_report(trained, tmp_path):
    config, checkpoint = trained
    out = tmp_path / 'report'
    result = run([sys.executable, 'tools/analysis/eval_report.py',
                  str(config), str(checkpoint), '--split', 'train',
                  '--out-dir', str(out)])
    assert "60 images of split 'train'" in result.stdout
    with open(out / 'per_class.csv', encoding='utf-8-sig') as file:
        rows = list(csv.DictReader(file))
    assert [row['class'] for row in rows][:30] == list(FRUIT30_CLASSES)
    assert sum(int(row['support']) for row in rows[:30]) == 60
    for name in ('confusion_matrix.png', 'worst_mistakes.png'):
        assert (out / name).stat().st_size > 0
