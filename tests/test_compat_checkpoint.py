"""Checkpoints: weights-only safe saving, refusal of untrusted pickles."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import CheckpointLoader

from fruit_ext.compat import checkpoint as ckpt_compat
from fruit_ext.compat import (CorruptCheckpointError, UntrustedCheckpointError,
                              trust_checkpoint)


class _Payload:
    """Pickles into a call that creates ``marker`` when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker, ))


def _hub_with_history() -> MessageHub:
    hub = MessageHub.get_instance('test-ckpt-hub')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', 0.5, count=2)
    hub.update_info('best_score', np.float64(0.75))
    hub.update_info('keep_ids', np.arange(3))
    return hub


def test_message_hub_state_round_trips_through_weights_only_load(tmp_path):
    hub = _hub_with_history()
    path = tmp_path / 'hub.pth'
    torch.save({'message_hub': hub.state_dict()}, path)
    loaded = torch.load(path, weights_only=True)['message_hub']
    restored = MessageHub.get_instance('test-ckpt-hub-restored')
    restored.load_state_dict(loaded)
    buffer = restored.log_scalars['train/loss']
    assert isinstance(buffer, HistoryBuffer)
    np.testing.assert_allclose(buffer.data[0], [1.5, 0.5])
    np.testing.assert_allclose(buffer.data[1], [1, 2])
    assert buffer.mean() == pytest.approx(2.0 / 3.0)  # sum(log) / sum(count)
    assert restored.get_info('best_score') == pytest.approx(0.75)
    np.testing.assert_array_equal(restored.get_info('keep_ids'), [0, 1, 2])


def test_without_fix_message_hub_state_is_not_weights_only_safe(tmp_path):
    ckpt_compat.revert()
    try:
        state = _hub_with_history().state_dict()
        torch.save({'message_hub': state}, tmp_path / 'legacy.pth')
        with pytest.raises(Exception, match='HistoryBuffer'):
            torch.load(tmp_path / 'legacy.pth', weights_only=True)
    finally:
        ckpt_compat.apply()


def test_malicious_checkpoint_is_refused_and_payload_never_runs(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _Payload(marker)}, path)
    with pytest.raises(UntrustedCheckpointError) as info:
        CheckpointLoader.load_checkpoint(str(path))
    message = str(info.value)
    assert str(path) in message
    assert ckpt_compat.TRUST_ENV in message and 'trust_checkpoint' in message
    assert not marker.exists()


def test_malicious_download_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _Payload(marker)}, evil)
    with pytest.raises(UntrustedCheckpointError):
        ckpt_compat.load_url_weights_only(
            evil.as_uri(), model_dir=str(tmp_path / 'cache'))
    assert not marker.exists()


def test_trusted_legacy_checkpoint_loads(tmp_path, monkeypatch):
    monkeypatch.delenv(ckpt_compat.TRUST_ENV, raising=False)
    ckpt_compat.revert()
    try:
        legacy = {'state_dict': {'w': torch.ones(2)},
                  'message_hub': _hub_with_history().state_dict()}
    finally:
        ckpt_compat.apply()
    path = tmp_path / 'legacy.pth'
    torch.save(legacy, path)
    with pytest.raises(UntrustedCheckpointError):
        CheckpointLoader.load_checkpoint(str(path))
    trust_checkpoint(str(tmp_path))
    loaded = CheckpointLoader.load_checkpoint(str(path))
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)


def test_plain_state_dict_checkpoint_loads(tmp_path):
    path = tmp_path / 'official_like.pth'
    torch.save({'state_dict': {'fc.weight': torch.zeros(1000, 4)},
                'meta': {'epoch': 300, 'CLASSES': ('a', 'b')}}, path)
    loaded = CheckpointLoader.load_checkpoint(str(path))
    assert loaded['state_dict']['fc.weight'].shape == (1000, 4)


def test_truncated_and_missing_checkpoints_are_named(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(256, 256)}}, good)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:4096])
    with pytest.raises(CorruptCheckpointError, match='truncated.pth'):
        CheckpointLoader.load_checkpoint(str(truncated))
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        CheckpointLoader.load_checkpoint(str(tmp_path / 'nowhere.pth'))


def test_unreachable_url_says_what_to_do(tmp_path):
    with pytest.raises(RuntimeError, match='load_from'):
        ckpt_compat.load_url_weights_only(
            'http://127.0.0.1:9/mobilenet.pth', model_dir=str(tmp_path))


def test_trust_env_is_scoped_to_listed_paths(tmp_path, monkeypatch):
    monkeypatch.setenv(ckpt_compat.TRUST_ENV, str(tmp_path / 'a'))
    assert ckpt_compat.is_trusted(str(tmp_path / 'a' / 'x.pth'))
    assert not ckpt_compat.is_trusted(str(tmp_path / 'b' / 'x.pth'))
    assert not ckpt_compat.is_trusted(str(tmp_path / 'ab.pth'))
    os.environ.pop(ckpt_compat.TRUST_ENV)


@pytest.mark.parametrize('content, says', [
    (b'', 'is empty (0 bytes)'),
    (b'epoch_3 was here\n', "is a text file (starts with 'epoch_3 was"),
    (b'version https://git-lfs.github.com/spec/v1\noid sha256:0\n',
     'is a Git LFS pointer'),
    (b'\x00\x01\x02\x03binary', 'is not a PyTorch checkpoint'),
])
def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path, content,
                                                          says):
    path = tmp_path / 'best.pth'
    path.write_bytes(content)
    with pytest.raises(CorruptCheckpointError) as error:
        CheckpointLoader.load_checkpoint(str(path))
    assert str(path) in str(error.value) and says in str(error.value)


def test_onnx_file_renamed_pth_is_called_an_onnx_model(tmp_path):
    onnx_file = tmp_path / 'model.pth'
    torch.onnx.export(torch.nn.Linear(2, 2), (torch.zeros(1, 2), ),
                      str(onnx_file), dynamo=False)
    with pytest.raises(CorruptCheckpointError) as error:
        ckpt_compat.safe_torch_load(str(onnx_file))
    message = str(error.value)
    assert f'{onnx_file} is an ONNX model' in message
    assert 'Predictor' in message and 'untrusted' not in message.lower()


def test_infer_tool_names_an_empty_checkpoint(tmp_path):
    import sys

    from PIL import Image

    from conftest import REPO, run
    empty = tmp_path / 'best.pth'
    empty.write_bytes(b'')
    image = tmp_path / 'a.jpg'
    Image.new('RGB', (8, 8)).save(image)
    result = run([sys.executable, 'tools/infer.py',
                  str(REPO / 'configs' / 'mobilenet-v2_fruit_demo.py'),
                  str(empty), str(image)], check=False)
    assert result.returncode == 1
    assert f'error: Checkpoint {empty} is empty (0 bytes)' in result.stdout
    assert 'Traceback' not in result.stdout
