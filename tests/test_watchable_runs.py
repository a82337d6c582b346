"""A run you can watch: epoch lines, quiet console, early stopping,
TensorBoard, filtered upstream noise, ``--help`` on every tool."""
import ast
import re
import shutil
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from conftest import REPO, run, tiny_config
from fruit_ext.engine.log_filters import quiet_console
from fruit_ext.utils.cli import OPTIONS, add_options, tool_parser

WATCHED = f'''
_base_ = ['./tiny.py', {str(REPO / 'configs/_base_/early_stopping.py')!r},
          {str(REPO / 'configs/_base_/tensorboard.py')!r}]
default_hooks = dict(early_stopping=_base_.early_stopping)
visualizer = dict(vis_backends=_base_.tensorboard_backends)
'''

# Frozen model (lr 0, BatchNorm in eval mode): val top-1 is the same every
# epoch, a plateau. Hue jitter in 2 loader workers re-created every epoch.
FROZEN = '''
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, backend='pillow'),
    dict(type='ColorJitter', brightness=0.2, hue=0.3),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=16, num_workers=2, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
model = dict(backbone=dict(widen_factor=0.35, norm_eval=True),
             head=dict(in_channels=1280))
optim_wrapper = dict(optimizer=dict(lr=0.0))
train_cfg = dict(max_epochs=8)
custom_hooks = [dict(type='CheckpointLinksHook')]
'''


@pytest.fixture(scope='module')
def watched(tmp_path_factory, fruit_tree):
    """`mim train` on a plateau, piped through the epoch-line watcher."""
    root = tmp_path_factory.mktemp('watched')
    tiny_config(root / 'tiny.py', fruit_tree, work_extra=FROZEN)
    config = root / 'watched.py'
    config.write_text(WATCHED)
    work_dir, log = root / 'work', root / 'train.log'
    shown = run(['bash', '-c',
                 'set -o pipefail; mim train mmpretrain "$1" --work-dir "$2" '
                 '--cfg-options default_hooks.early_stopping.patience=2 2>&1 '
                 '| tee -a "$3" | python tools/analysis/watch_train.py '
                 '--config "$1"', 'sh', str(config), str(work_dir), str(log)])
    return config, work_dir, log.read_text(), shown.stdout


def test_early_stopping_preset_stops_on_plateau(watched):
    _, work_dir, log, _ = watched
    assert 'did not improve in the last 2 records' in log
    assert (work_dir / 'epoch_3.pth').is_file()
    assert not (work_dir / 'epoch_4.pth').exists()


def test_early_stopping_count_survives_resume(watched, tmp_path):
    """--resume continues the count: epoch_2.pth was saved before epoch 2's
    validation (mmengine's order), with 0 validations without a gain, so the
    resumed run stops after epochs 3 and 4 bring none; started afresh (the
    upstream behaviour) it would also train epoch 5."""
    config, work_dir, _, _ = watched
    resumed = tmp_path / 'resumed'
    shutil.copytree(work_dir, resumed)
    for late in ('epoch_3.pth', 'last_checkpoint'):
        (resumed / late).unlink(missing_ok=True)
    log = run(['mim', 'train', 'mmpretrain', str(config), '--work-dir',
               str(resumed), '--resume', str(resumed / 'epoch_2.pth'),
               '--cfg-options', 'default_hooks.early_stopping.patience=2'
               ]).stdout
    assert 'resumed with best accuracy/top1' in log
    assert 'and 0 validation(s) without a gain (patience 2)' in log
    assert 'did not improve in the last 2 records' in log
    assert (resumed / 'epoch_4.pth').is_file()
    assert not (resumed / 'epoch_5.pth').exists()


def test_one_line_per_epoch_with_val_top1_and_eta(watched):
    _, _, _, shown = watched
    lines = shown.strip().splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [
        ['epoch', '1/8'], ['epoch', '2/8'], ['epoch', '3/8']]
    assert all('val top-1' in line and 'ETA' in line for line in lines[:3])
    assert '(best)' in lines[0]
    assert lines[3].startswith('stopped early: the monitored metric')
    assert len(lines) == 4


def test_tensorboard_preset_writes_event_files(watched):
    from tensorboard.backend.event_processing.event_accumulator import \
        EventAccumulator
    _, work_dir, _, _ = watched
    events = list(work_dir.glob('*/vis_data/events.out.tfevents.*'))
    assert events, 'no TensorBoard event file'
    assert list(work_dir.glob('*/vis_data/scalars.json'))
    accumulator = EventAccumulator(str(events[0].parent)).Reload()
    assert 'accuracy/top1' in accumulator.Tags()['scalars']


def test_upstream_noise_filtered_once(watched):
    _, _, log, _ = watched
    assert 'pkg_resources is deprecated' not in log
    assert 'MultiScaleDeformableAttention' not in log
    # the hue fix ran in 2 workers x 3 epochs; its note shows once
    assert log.count('wraps negative hue shifts') == 1


def test_mim_test_on_best_with_presets_needs_no_train_split(
        watched, fruit_tree, tmp_path):
    config, work_dir, _, _ = watched
    val_only = tmp_path / 'val_only'
    shutil.copytree(fruit_tree / 'val', val_only / 'val')
    tested = run(['mim', 'test', 'mmpretrain', str(config), '--checkpoint',
                  str(work_dir / 'best.pth'), '--work-dir',
                  str(tmp_path / 'test'), '--cfg-options',
                  f'data_root={val_only}'], cwd=config.parent)
    # mmengine's EarlyStoppingHook would build the train loop (and scan the
    # missing train/ split) in a test run; fruit_ext.compat.early_stopping
    assert 'EarlyStoppingHook: not a training run' in tested.stdout
    assert 'accuracy/top1' in tested.stdout


def test_package_import_filters_only_the_upstream_warnings():
    code = ('import warnings; warnings.resetwarnings(); '
            'warnings.simplefilter("default"); {}import mmpretrain.models; '
            'import pkg_resources; '
            'warnings.warn("another warning", UserWarning)')
    plain = run([sys.executable, '-c', code.format('')]).stdout
    assert 'pkg_resources is deprecated' in plain  # upstream still warns
    assert 'MultiScaleDeformableAttention' in plain
    quiet = run([sys.executable, '-c', code.format('import fruit_ext; ')])
    assert 'pkg_resources is deprecated' not in quiet.stdout
    assert 'MultiScaleDeformableAttention' not in quiet.stdout
    assert 'another warning' in quiet.stdout


class QuietRunner(Runner):
    """What FruitRunner does: quiet_console on the logger it builds."""

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        quiet_console(logger)
        return logger


def test_quiet_console_keeps_startup_dumps_in_the_file_only(
        tmp_path, fruit_tree, capsys):
    cfg = Config.fromfile(str(tiny_config(tmp_path / 'q.py', fruit_tree)))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.custom_hooks = []
    runner = QuietRunner.from_cfg(cfg)
    runner.train()
    console = capsys.readouterr().out
    log_file = Path(runner.logger.log_file).read_text()
    for dump in ('System environment:', 'Config:', 'Hooks will be executed'):
        assert dump not in console
        assert dump in log_file
    note = f'Environment, config and hook order: see {runner.logger.log_file}'
    assert note in console
    assert 'Epoch(train) [1]' in console and 'Epoch(val) [1]' in console
    assert quiet_console(runner.logger) is quiet_console(runner.logger)


def test_one_flag_tensorboard_and_early_stopping(tmp_path):
    from mmengine.registry import HOOKS
    from mmengine.visualization import Visualizer
    parser = __import__('argparse').ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args([
        '--cfg-options',
        'visualizer.vis_backends.0.type=TensorboardVisBackend',
        'default_hooks.early_stopping.type=EarlyStoppingHook',
        'default_hooks.early_stopping.monitor=accuracy/top1'])
    cfg = Config.fromfile(str(REPO / 'configs' / 'mobilenet-v2_fruit.py'))
    cfg.merge_from_dict(args.cfg_options)
    hook = HOOKS.build(cfg.default_hooks.early_stopping)
    assert (hook.patience, hook.min_delta, hook.rule) == (5, 0.1, 'greater')
    visualizer = Visualizer(name='tb_flag', save_dir=str(tmp_path),
                            vis_backends=cfg.visualizer.vis_backends)
    visualizer.add_scalars({'accuracy/top1': 50.0}, step=1)
    visualizer.close()
    assert list(tmp_path.rglob('events.out.tfevents.*'))


def python_tools():
    """Every Python tool under tools/ (files with a __main__ block)."""
    return sorted(str(path.relative_to(REPO))
                  for path in (REPO / 'tools').rglob('*.py')
                  if "__name__ == '__main__'" in path.read_text())


def test_every_python_tool_documents_each_option():
    problems = []
    for tool in python_tools():
        for node in ast.walk(ast.parse((REPO / tool).read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, 'attr', getattr(node.func, 'id', ''))
            keywords = {keyword.arg for keyword in node.keywords}
            if name == 'add_argument' and 'help' not in keywords:
                problems.append(f'{tool}:{node.lineno} option without help')
            if name == 'ArgumentParser' and not any(
                    keyword.arg == 'formatter_class'
                    and 'ArgumentDefaultsHelpFormatter' in ast.unparse(
                        keyword.value) for keyword in node.keywords):
                problems.append(f'{tool}:{node.lineno} parser without '
                                'ArgumentDefaultsHelpFormatter')
    assert not problems, '\n'.join(problems)



def test_shared_options_are_documented_and_changed_per_tool():
    assert [name for name, spec in OPTIONS.items()
            if not spec.get('help')] == []
    parser = tool_parser(__doc__)
    add_options(parser, '--seed', '--workers', '--batch-size', seed=3,
                batch_size=dict(default=None, help='none: the config\'s'))
    assert vars(parser.parse_args([])) == dict(seed=3, workers=None,
                                               batch_size=None)
    assert parser.parse_args(['--workers', '2']).workers == 2
    with pytest.raises(SystemExit):  # positive_int refuses 0
        parser.parse_args(['--batch-size', '0'])
    with pytest.raises(TypeError, match='seeds'):  # a typo is not ignored
        add_options(tool_parser(None), '--seed', seeds=[1])


SHELL_TOOLS = sorted(str(path.relative_to(REPO))
                     for path in (REPO / 'tools').rglob('*.sh'))


@pytest.mark.parametrize('tool', python_tools() + SHELL_TOOLS)
def test_help_prints_usage_and_starts_nothing(tool, tmp_path):
    command = (['bash'] if tool.endswith('.sh') else [sys.executable])
    result = run(command + [str(REPO / tool), '--help'], cwd=tmp_path,
                 timeout=120)
    assert 'usage' in result.stdout.lower()
    assert '[quickstart]' not in result.stdout  # quickstart did not start
    assert '[setup]' not in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_shell_tools_without_arguments_print_usage(tmp_path):
    for tool in ('tools/dist_train.sh', 'tools/dist_test.sh',
                 'tools/slurm_train.sh'):
        result = run(['bash', str(REPO / tool)], cwd=tmp_path, check=False)
        assert result.returncode == 2, result.stdout
        assert 'unbound variable' not in result.stdout
        assert 'bash ' + tool in result.stdout


def test_quickstart_shows_epochs_appends_log_and_uses_best(tmp_path):
    work, data = tmp_path / 'work', tmp_path / 'demo'
    command = ['bash', 'tools/quickstart.sh', '--skip-setup', '--epochs', '1',
               '--work-dir', str(work), '--data', str(data)]
    first = run(command, timeout=900).stdout
    assert 'epoch   1/1' in first and 'val top-1' in first
    assert f'mim test with {work}/best.pth' in first
    assert 'Epoch(train)' not in first  # the full log went to the file
    assert (work / 'prediction.png').is_file()
    torch.load(work / 'best.pth', weights_only=True)
    log = (work / 'train.log').read_text()
    second = run(command, timeout=900).stdout
    assert 'demo val top-1 accuracy' in second
    assert 'resumed after epoch 1 of 1' in second
    again = (work / 'train.log').read_text()
    assert again.startswith(log) and len(again) > len(log)  # appended
    assert again.count('===== quickstart') == 2


def doc_snippets(doc: str, heading: str) -> list:
    """The ```python blocks of one section of a page under docs/."""
    text = (REPO / 'docs' / doc).read_text()
    section = text.split(heading + '\n', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'```python\n(.*?)```', section, re.S)


def snippet_config(snippet: str, path: Path) -> Config:
    """Read a docs snippet as a config file placed in configs/."""
    for name in ('mobilenet-v2_fruit_ft.py', 'mobilenet-v2_fruit.py',
                 '_base_/early_stopping.py', '_base_/tensorboard.py'):
        snippet = snippet.replace(f"'./{name}'",
                                  repr(str(REPO / 'configs' / name)))
    path.write_text(snippet)
    return Config.fromfile(str(path))


@pytest.mark.parametrize('index', [0, 1])
def test_another_backbone_snippets_build(tmp_path, index):
    from mmpretrain.registry import MODELS
    snippets = doc_snippets('finetune.md', '## Another backbone')
    assert len(snippets) == 2
    cfg = snippet_config(snippets[index], tmp_path / 'backbone.py')
    if cfg.model.backbone.get('pretrained'):
        cfg.model.backbone.pretrained = False  # no download in tests
    else:  # the URL is one of mmpretrain's model zoo
        metafile = Path(__import__('mmpretrain').__file__).parent / (
            '.mim/configs/resnet/metafile.yml')
        assert cfg.load_from in metafile.read_text()
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 64, 64), mode='tensor')
    assert logits.shape == (1, 30)


def test_training_doc_snippets_configure_the_presets(tmp_path):
    early, board = (
        snippet_config(doc_snippets('training.md', heading)[0],
                       tmp_path / f'{index}.py')
        for index, heading in enumerate(('## Early stopping',
                                         '## TensorBoard')))
    assert early.default_hooks.early_stopping.type == 'EarlyStoppingHook'
    assert early.default_hooks.checkpoint.save_best == 'auto'  # kept
    assert [backend.type for backend in board.visualizer.vis_backends] == [
        'LocalVisBackend', 'TensorboardVisBackend']
