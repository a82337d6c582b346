"""Fashion-MNIST export and the benchmark's docs writer."""
import gzip
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, run

EXPORT = REPO / 'tools' / 'dataset' / 'export_fashion_mnist.py'
BENCH = REPO / 'tools' / 'benchmark' / 'finetune_real.py'


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, 'big') + b''.join(
        n.to_bytes(4, 'big') for n in array.shape)
    with gzip.open(path, 'wb') as file:
        file.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope='module')
def source(tmp_path_factory) -> Path:
    """IDX files in the Fashion-MNIST format: 30 train / 5 test per class;
    each image's first pixel holds its index, to trace where it came from."""
    root = tmp_path_factory.mktemp('idx')
    for name, per_class in (('train', 30), ('t10k', 5)):
        labels = np.tile(np.arange(10), per_class)
        images = np.zeros((len(labels), 28, 28), np.uint8)
        images[:, 0, 0] = np.arange(len(labels)) % 256
        images[:, 1:, :] = (labels * 25)[:, None, None]
        write_idx(root / f'{name}-images-idx3-ubyte.gz', images, 2051)
        write_idx(root / f'{name}-labels-idx1-ubyte.gz', labels, 2049)
    return root


def counts(folder: Path):
    return [len(list(d.glob('*.png'))) for d in sorted(folder.iterdir())]


def test_export_splits_are_disjoint_and_long_tailed(tmp_path, source):
    out = tmp_path / 'fm'
    run([sys.executable, str(EXPORT), str(out), '--source', str(source),
         '--train-per-class', '20', '--val-per-class', '5',
         '--test-per-class', '3', '--imbalance', '10'])
    train = counts(out / 'train')
    assert train[0] == 20 and train[-1] == 2
    assert train == sorted(train, reverse=True)
    assert counts(out / 'val') == [5] * 10
    assert counts(out / 'test') == [3] * 10
    assert sorted(p.name for p in (out / 'train').iterdir())[0] == \
        '00_T-shirt_top'
    names = {split: {p.name for p in (out / split).rglob('*.png')}
             for split in ('train', 'val')}
    assert not names['train'] & names['val']
    # a second export into the same folder must not clobber it silently
    again = run([sys.executable, str(EXPORT), str(out), '--source',
                 str(source)], check=False)
    assert again.returncode != 0 and '--overwrite' in again.stdout


def test_export_names_a_corrupt_file(tmp_path, source):
    bad = tmp_path / 'bad'
    bad.mkdir()
    for file in source.iterdir():
        (bad / file.name).write_bytes(file.read_bytes())
    write_idx(bad / 'train-labels-idx1-ubyte.gz', np.zeros(300), 2051)
    result = run([sys.executable, str(EXPORT), str(tmp_path / 'o'),
                  '--source', str(bad)], check=False)
    assert result.returncode != 0
    assert 'train-labels-idx1-ubyte.gz: IDX magic number 2051, expected ' \
        '2049' in result.stdout


def test_benchmark_rescales_pipelines_and_fills_only_its_docs_section(
        tmp_path):
    spec = importlib.util.spec_from_file_location('finetune_real', BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pipeline = bench.resize_pipeline([
        dict(type='RobustLoadImageFromFile', min_size=256),
        dict(type='FastRandomResizedCrop', scale=224),
        dict(type='ResizeEdge', scale=256, edge='short'),
        dict(type='CenterCrop', crop_size=224)], 64)
    assert [t.get('min_size', t.get('scale', t.get('crop_size')))
            for t in pipeline] == [73, 64, 73, 64]
    doc = tmp_path / 'benchmarks.md'
    doc.write_text('# B\n\n## Data pipeline\n\nkeep\n\n'
                   '## Fine-tuning on real photos\n\n_placeholder_\n\n'
                   '## Inference\n\nkeep too\n')
    bench.write_docs('| table |\n', path=str(doc))
    bench.write_docs('| new table |\n', path=str(doc))
    text = doc.read_text()
    assert '_placeholder_' not in text and '| table |' not in text
    assert '## Fine-tuning on real photos\n\n| new table |\n\n## Inference' \
        in text
    assert text.count('keep') == 2


def test_benchmark_configs_stay_right_for_every_seed(tmp_path):
    spec = importlib.util.spec_from_file_location('finetune_real', BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    from mmengine.config import Config
    args = bench.parse_args(['--checkpoint', str(tmp_path / 'w.pth')])
    for seed in (0, 1):  # the second build once inherited a broken backbone
        path = bench.build_config('effl0_course', str(tmp_path / 'data'),
                                  str(tmp_path / f'run{seed}'), seed, args)
        cfg = Config.fromfile(path)
        assert cfg.model.backbone == dict(
            type='TIMMBackbone', model_name='tf_efficientnet_lite0',
            pretrained=False)
        assert cfg.randomness.seed == seed and cfg.model.head.num_classes == 10
    scratch = Config.fromfile(bench.build_config(
        'mbv2_ft', str(tmp_path / 'data'), str(tmp_path / 'scratch'), 0, args))
    assert scratch.load_from is None
    assert 'BackboneFreezeHook' not in {h['type'] for h in scratch.custom_hooks}
    assert scratch.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 1
