"""Evaluation report: exact per-class numbers, PNGs, best-epoch keeping,
and the recipe end to end through real `mim train` / `mim test`."""
import csv
import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from PIL import Image

from conftest import REPO, run, tiny_config, write_class_tree
from fruit_ext.evaluation import write_eval_report
from fruit_ext.engine.hooks import EvalReportHook

CLASSES = ('香蕉', '梨', '草莓')
# true 0 0 0 1 1 2, predicted 0 0 1 1 2 2
GT = np.array([0, 0, 0, 1, 1, 2])
SCORES = np.array([[.9, .05, .05], [.6, .3, .1], [.2, .7, .1],
                   [.1, .8, .1], [.1, .3, .6], [.1, .1, .8]])
#: (precision, recall, f1, support) in percent
EXPECTED = {
    '香蕉': (100.0, 66.67, 80.0, 3),
    '梨': (50.0, 50.0, 50.0, 2),
    '草莓': (50.0, 100.0, 66.67, 1),
}


@pytest.fixture(scope='module')
def images(tmp_path_factory):
    root = write_class_tree(tmp_path_factory.mktemp('report'), CLASSES,
                            {'val': 3}, size=32)
    return [str(sorted((root / 'val' / CLASSES[g]).glob('*.jpg'))[i % 2])
            for i, g in enumerate(GT)]


def read_rows(path):
    with open(path, encoding='utf-8') as file:
        return {row['class']: row for row in csv.DictReader(file)}


def test_report_has_the_right_per_class_numbers(tmp_path, images):
    paths = write_eval_report(SCORES, GT, images, CLASSES, str(tmp_path),
                              num_mistakes=4)
    rows = read_rows(paths['csv'])
    for name, (precision, recall, f1, support) in EXPECTED.items():
        row = rows[name]
        assert float(row['precision']) == pytest.approx(precision, abs=0.01)
        assert float(row['recall']) == pytest.approx(recall, abs=0.01)
        assert float(row['f1']) == pytest.approx(f1, abs=0.01)
        assert int(row['support']) == support
    assert rows['香蕉']['alias'] == 'banana'
    macro = rows['macro avg']
    assert float(macro['recall']) == pytest.approx((66.67 + 50 + 100) / 3,
                                                   abs=0.01)
    for key in ('confusion_matrix', 'mistakes'):
        with Image.open(paths[key]) as image:
            assert image.format == 'PNG' and min(image.size) > 200


def test_report_bad_input_is_a_clear_error(tmp_path, images):
    with pytest.raises(ValueError, match=r'shape \(N, 3\)'):
        write_eval_report(SCORES[:, :2], GT, images, CLASSES, str(tmp_path))
    broken = tmp_path / 'broken.jpg'
    broken.write_bytes(b'not a jpeg')
    with pytest.raises(ValueError, match='broken.jpg'):
        write_eval_report(SCORES, GT, [str(broken)] * 6, CLASSES,
                          str(tmp_path))


def test_hook_keeps_the_best_report_and_feeds_the_visualizer(
        tmp_path, images):
    root = Path(images[0]).parents[2]
    config = tiny_config(tmp_path / 'cfg.py', root, '''
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, classes=['香蕉', '梨', '草莓'],
                 pipeline=test_pipeline))''')
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.experiment_name = uuid.uuid4().hex
    runner = Runner.from_cfg(cfg)
    hook = EvalReportHook(num_mistakes=4)
    outputs = [
        DataSample(metainfo=dict(img_path=path)).set_gt_label(int(gt))
        .set_pred_score(torch.tensor(score, dtype=torch.float32))
        for path, gt, score in zip(images, GT, SCORES)]
    best = Path(cfg.work_dir) / 'eval_report' / 'best'
    for top1 in (50.0, 40.0):
        hook.before_val_epoch(runner)
        hook.after_val_iter(runner, 0, None, outputs[:4])
        hook.after_val_iter(runner, 1, None, outputs[4:])
        hook.after_val_epoch(runner, {'accuracy/top1': top1})
        assert json.loads((best / 'metrics.json').read_text())['score'] == 50
    assert float(read_rows(best / 'per_class.csv')['梨']['f1']) == 50.0
    assert runner.message_hub.get_scalar('val/macro_recall').current() == \
        pytest.approx(72.22, abs=0.01)
    drawn = list(Path(runner.log_dir).glob('vis_data/vis_image/val_*.png'))
    assert {p.name.rsplit('_', 1)[0] for p in drawn} == {
        'val_confusion_matrix', 'val_mistakes', 'val_reliability'}


def test_recipe_trains_with_mim_and_reports_on_mim_test(tmp_path, fruit_tree):
    config = tiny_config(
        tmp_path / 'ft.py', fruit_tree,
        base=REPO / 'configs' / 'mobilenet-v2_fruit_ft.py')
    work_dir = tmp_path / 'work'
    trained = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
                   str(work_dir)], cwd=tmp_path)
    assert 'ClassCountsHook: ClassBalancedLoss got class counts [2, 2' in \
        trained.stdout
    # stage 1 of LP-FT: the head fitted as a linear probe
    assert 'LinearProbeHook: head fitted as a linear probe' in trained.stdout
    best = json.loads(
        (work_dir / 'eval_report' / 'best' / 'metrics.json').read_text())
    assert best['epoch'] == 1 and best['metric'] == 'accuracy/top1'
    assert (work_dir / 'eval_report' / 'last' / 'per_class.csv').is_file()
    tested = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(work_dir / 'epoch_1.pth'), '--work-dir',
                  str(work_dir)], cwd=tmp_path)
    assert 'EvalReportHook: test report written' in tested.stdout
    # the calibration CalibrationHook stored in epoch_1.pth, on the test set
    assert 'CalibrationHook: temperature' in tested.stdout
    assert 'test ECE' in tested.stdout
    assert (work_dir / 'eval_report' / 'test' / 'reliability.png').is_file()
    rows = read_rows(work_dir / 'eval_report' / 'test' / 'per_class.csv')
    assert len(rows) == 31 and int(rows['macro avg']['support']) == 30
    assert (work_dir / 'eval_report' / 'test' / 'confusion_matrix.png'
            ).stat().st_size > 0
