"""Temperature scaling, "unknown", TTA: numpy core, tools, PyTorch = ONNX."""
import hashlib
import importlib.util
import json
import sys

import numpy as np
import pytest
import torch
from mmpretrain import inference_model

from conftest import REPO, run
from fruit_ext.apis import predictor as onnx_predictor
from fruit_ext.apis.batch_inference import BatchInferencer
from fruit_ext.apis.checked_loading import read_checkpoint
from fruit_ext.apis.inference import init_model
from fruit_ext.evaluation import calibration as cal
from test_infer_api import train_tiny_model, write_photo


def synthetic(temperature: float, n: int = 6000, classes: int = 10,
              seed: int = 0):
    """Logits of a model over-confident by ``temperature``: labels are
    drawn from softmax(z), the model reports z * temperature."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.5, (n, classes))
    p = cal.softmax(z)
    labels = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return z * temperature, labels


@pytest.mark.parametrize('true_t', [0.5, 2.5])
def test_temperature_recovered_on_synthetic_logits(true_t):
    logits, labels = synthetic(true_t)
    fitted = cal.fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.05)
    fitted_cal = cal.fit_calibration(logits, labels)
    assert fitted_cal['ece_after'] < 0.02 < fitted_cal['ece_before']
    assert fitted_cal['nll_after'] < fitted_cal['nll_before']
    np.testing.assert_array_equal(  # top-1 unchanged
        cal.softmax(logits, fitted).argmax(1), logits.argmax(1))


def test_threshold_ece_and_auroc_figures():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    threshold = cal.choose_threshold(scores, 0.95)
    assert 0.95 <= (scores >= threshold).mean() < 0.952
    logits, labels = synthetic(2.0, n=2000)
    fitted = cal.fit_calibration(logits, labels, accept=0.9)
    assert cal.threshold_for_accept(fitted, 0.9) == pytest.approx(
        fitted['threshold'])
    assert cal.threshold_for_accept(fitted, 0.99) < fitted['threshold']
    with pytest.raises(ValueError, match='acceptance of 0.70 to 1'):
        cal.threshold_for_accept(fitted, 0.5)
    # perfectly calibrated by construction: ECE near 0
    assert cal.ece(cal.softmax(logits / 2), labels) < 0.03
    known, unknown = rng.normal(1, 1, 300), rng.normal(0, 1, 200)
    unknown[:20] = known[:20]  # ties count half
    assert cal.auroc(known, unknown) == pytest.approx(roc_auc_score(
        np.r_[np.ones(300), np.zeros(200)], np.r_[known, unknown]))


@pytest.mark.parametrize('kind', ['msp', 'energy'])
def test_onnx_predictor_repeats_the_calibration_rule(kind):
    """predictor.py stays standalone (no fruit_ext import): its copy of the
    rule must give the numbers of fruit_ext.evaluation.calibration."""
    logits, labels = synthetic(3.0, n=500)
    fitted = cal.fit_calibration(logits, labels, score=kind)
    for args in ((None, None), (0.6, None), (None, 0.8)):
        ours = cal.unknown_rule(fitted, *args)
        assert onnx_predictor.unknown_rule(fitted, *args) == pytest.approx(
            ours)
        np.testing.assert_allclose(
            onnx_predictor.ood_score(logits, ours['temperature'],
                                     ours['score']),
            cal.ood_score(logits, ours['temperature'], ours['score']),
            rtol=1e-12)
    assert cal.decide(logits, cal.unknown_rule(fitted))['unknown'].mean() \
        == pytest.approx(0.05, abs=0.03)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, fruit_tree):
    return train_tiny_model(tmp_path_factory, fruit_tree)


@pytest.fixture(scope='module')
def calibrated(trained, tmp_path_factory):
    """The tiny model calibrated by the tool, and its ONNX export."""
    config, checkpoint = trained
    out = tmp_path_factory.mktemp('calibrated')
    ckpt, onnx_file = out / 'calibrated.pth', out / 'model.onnx'
    before = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    result = run([sys.executable, 'tools/analysis/calibrate.py', str(config),
                  str(checkpoint), '--out', str(ckpt), '--accept', '0.8'])
    assert 'calibrated checkpoint written to' in result.stdout
    assert hashlib.sha256(checkpoint.read_bytes()).hexdigest() == before
    result = run([sys.executable, 'tools/deploy/export_onnx.py', str(config),
                  str(ckpt), '--out', str(onnx_file)])
    assert 'calibrated: T=' in result.stdout
    return config, ckpt, onnx_file


@pytest.fixture(scope='module')
def photos(tmp_path_factory, fruit_tree):
    folder = tmp_path_factory.mktemp('calibration_photos')
    made = [str(write_photo(folder / f'{i}.jpg', (40 + 8 * i, 36), seed=i))
            for i in range(4)]
    return made + [str(p) for p in sorted((fruit_tree / 'val').glob(
        '*/0.jpg'))[:8]]


def test_calibrate_tool_never_overwrites(trained, calibrated):
    config, checkpoint = trained
    stored = read_checkpoint(str(calibrated[1]))['meta']['calibration']
    assert stored['temperature'] > 0 and stored['accept'] == 0.8
    assert stored['val_images'] == 30 and stored['split'] == 'val'
    stamp = calibrated[1].stat().st_mtime_ns
    result = run([sys.executable, 'tools/analysis/calibrate.py', str(config),
                  str(checkpoint), '--out', str(calibrated[1])], check=False)
    assert result.returncode == 1 and 'pass --overwrite' in result.stdout
    assert calibrated[1].stat().st_mtime_ns == stamp
    spec = importlib.util.spec_from_file_location(
        'calibrate_tool', REPO / 'tools' / 'analysis' / 'calibrate.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with pytest.raises(ValueError, match='give another file name'):
        tool.output_path(str(checkpoint), str(checkpoint), overwrite=True)
    assert tool.output_path(str(checkpoint), None, False).endswith(
        'epoch_2_calibrated.pth')


def test_onnx_predictor_equals_pytorch_calibrated(trained, calibrated,
                                                  photos):
    config, ckpt, onnx_file = calibrated
    model = init_model(str(config), str(ckpt))
    predictor = onnx_predictor.Predictor(onnx_file)
    assert predictor.calibration == model._calibration
    inferencer = BatchInferencer(str(config), str(ckpt), batch_size=4)
    median = float(np.median([p['pred_score'] for p in predictor(photos)]))
    decisions = []
    for kwargs in ({}, dict(threshold=median), dict(accept=0.99)):
        onnx_results = predictor(photos, topk=3, **kwargs)
        batch, skipped = inferencer.predict(photos, topk=3, progress=False,
                                            **kwargs)
        assert not skipped
        for path, got, want in zip(photos, onnx_results, batch):
            np.testing.assert_allclose(got['pred_scores'], want.scores,
                                       atol=1e-5)
            assert got['unknown'] == want.unknown
            assert got['threshold'] == pytest.approx(want.threshold)
            assert got['pred_class'] == want.pred_class  # best guess kept
            if not kwargs:  # the stored rule, through mmpretrain's API
                stored = onnx_results
                result = inference_model(model, path)
                np.testing.assert_allclose(result['pred_scores'],
                                           got['pred_scores'], atol=1e-5)
                assert result['unknown'] == got['unknown']
        decisions.append([r['unknown'] for r in onnx_results])
    assert decisions[1].count(True) == len(photos) // 2  # a real split
    # the same weights without the calibration: raw softmax, never unknown
    raw = inference_model(init_model(str(config), str(trained[1])),
                          photos[0])
    assert 'unknown' not in raw
    assert np.abs(raw['pred_scores'] - stored[0]['pred_scores']).max() > 1e-3
    row = batch[0].to_dict()
    assert {'unknown', 'threshold', 'pred_scores', 'score_kind',
            'temperature'} <= set(row)
    json.dumps(row)


def test_tta_same_in_pytorch_and_onnx(calibrated, photos):
    config, ckpt, onnx_file = calibrated
    predictor = onnx_predictor.Predictor(onnx_file)
    inferencer = BatchInferencer(str(config), str(ckpt), batch_size=4)
    plain = predictor(photos, tta=False)
    flipped = predictor(photos, tta=True)
    batch, _ = inferencer.predict(photos, progress=False, tta=True)
    for got, want in zip(flipped, batch):
        np.testing.assert_allclose(got['pred_scores'], want.scores,
                                   atol=1e-5)
    assert max(np.abs(a['pred_scores'] - b['pred_scores']).max()
               for a, b in zip(plain, flipped)) > 1e-4
    # TTA = the mean of the logits of the image and its mirror image
    image = predictor.preprocess(photos[0])[None]
    mean = (predictor.logits(image) + predictor.logits(
        image[..., ::-1].copy())) / 2
    np.testing.assert_allclose(
        flipped[0]['pred_scores'],
        cal.softmax(mean, predictor.calibration['temperature'])[0],
        atol=1e-6)


def test_infer_tool_options(calibrated, photos, tmp_path):
    config, ckpt, _ = calibrated
    out = tmp_path / 'pred.json'
    result = run([sys.executable, 'tools/infer.py', str(config), str(ckpt),
                  *photos[:3], '--tta', '--accept', '0.99', '--out',
                  str(out)])
    assert 'unknown below energy' in ' '.join(result.stdout.split())
    rows = json.loads(out.read_text())['predictions']
    assert all(len(r['pred_scores']) == 30 for r in rows)


def test_calibration_hook_stores_it_with_the_best_weights(tmp_path):
    """A real 2-epoch Runner: best.pth and the epoch checkpoint of the same
    weights carry the calibration fitted on that validation; the eval report
    has the reliability diagram, ECE before/after and the CAM grid."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from conftest import three_class_config, write_class_tree
    torch.set_num_threads(1)
    root = write_class_tree(tmp_path / 'data', ('a', 'b', 'c'),
                            {'train': 4, 'val': 4}, size=32)
    config = three_class_config(tmp_path / 'cfg.py', root, '''
model = dict(backbone=dict(widen_factor=0.35),
             head=dict(in_channels=1280, num_classes=3, topk=(1, )))
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(
    interval=1, save_best='auto', max_keep_ckpts=-1))
custom_hooks = [dict(type='CalibrationHook', accept=0.9),
                dict(type='EvalReportHook', num_mistakes=2)]
''')
    cfg = Config.fromfile(str(config))
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    best = read_checkpoint(str(next((tmp_path / 'work').glob('best_*.pth'))))
    stored = best['meta']['calibration']
    assert stored['val_images'] == 12 and stored['accept'] == 0.9
    epoch = read_checkpoint(
        str(tmp_path / 'work' / f'epoch_{best["meta"]["epoch"]}.pth'))
    assert epoch['meta']['calibration'] == stored
    report = tmp_path / 'work' / 'eval_report' / 'best'
    figures = json.loads((report / 'calibration.json').read_text())
    assert figures['temperature'] == stored['temperature']
    assert figures['ece_after'] == pytest.approx(stored['ece_after'],
                                                 abs=1e-6)
    assert (report / 'reliability.png').stat().st_size > 1000
    assert (report / 'worst_mistakes.png').is_file()


def test_publish_keeps_the_calibration(calibrated, tmp_path):
    from fruit_ext.apis.publish import publish_files
    stored = read_checkpoint(str(calibrated[1]))['meta']['calibration']
    written = publish_files(str(calibrated[1]), str(tmp_path))
    for kind in ('pth', 'safetensors'):
        meta = read_checkpoint(written[kind])['meta']
        assert meta['calibration'] == stored
    assert init_model(str(calibrated[0]), written['safetensors'])\
        ._calibration == stored
