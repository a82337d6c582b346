"""The README's fruit30 and Python snippets run as written.

In a scratch folder that looks like a checkout (configs/ linked, a tiny
fruit30 under data/fruit30_split): the training snippet's first line (with
the documented offline override of load_from), its `mim test` line, and the
"Inference in Python" block, unchanged, against the checkpoint it trained.
"""
import re
import shlex
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import BIN, REPO, run, write_class_tree

README = (REPO / 'README.md').read_text(encoding='utf-8')


def code_block(heading: str, language: str) -> str:
    """The first ``language`` code block under a README heading."""
    section = README.split(f'\n{heading}\n', 1)[1]
    match = re.search(rf'```{language}\n(.*?)```', section, re.S)
    assert match, f'no {language} block under {heading}'
    return match.group(1)


def shell_lines(block: str):
    for line in block.splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not line.startswith('source'):
            yield shlex.split(line)


def test_fruit30_training_and_python_snippets_run_as_written(tmp_path):
    (tmp_path / 'configs').symlink_to(REPO / 'configs')
    write_class_tree(tmp_path / 'data' / 'fruit30_split',
                     per_split={'train': 1, 'val': 1}, size=32)
    lines = list(shell_lines(code_block('## Training on the real fruit30',
                                        'bash')))
    train, test = lines[0], lines[2]
    assert train[:2] == ['mim', 'train'] and test[:2] == ['mim', 'test']
    # offline: the README's own advice, --cfg-options load_from=PATH
    run([str(BIN / 'mim'), *train[1:], '--cfg-options', 'load_from=None',
         'train_cfg.max_epochs=1', 'train_dataloader.num_workers=0',
         'val_dataloader.num_workers=0'], cwd=tmp_path)
    tested = run([str(BIN / 'mim'), *test[1:], '--cfg-options',
                  'test_dataloader.num_workers=0'], cwd=tmp_path)
    assert re.search(r'accuracy/top1: [0-9.]+', tested.stdout)

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(
        tmp_path / 'apple.jpg')
    script = tmp_path / 'snippet.py'
    script.write_text(code_block('## Inference in Python', 'python'))
    run([str(BIN / 'python'), str(script)], cwd=tmp_path)
    picture = Image.open(tmp_path / 'apple_pred.png')
    assert picture.size[0] >= 80 and picture.size[1] >= 60
