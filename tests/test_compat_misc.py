"""CPU-only distributed set-up and the numpy-2 hue fix."""
import os

import mmcv
import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
from mmengine.dist import get_backend
from mmengine.model import MMDistributedDataParallel
from mmpretrain.datasets.transforms import ColorJitter

from fruit_ext.compat import adjust_hue as hue_compat
from fruit_ext.compat import distributed as dist_compat

pytestmark = pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU-only code path')


@pytest.fixture
def single_process_env(monkeypatch):
    for key, value in dict(RANK='0', LOCAL_RANK='0', WORLD_SIZE='1',
                           MASTER_ADDR='127.0.0.1',
                           MASTER_PORT='29533').items():
        monkeypatch.setenv(key, value)
    yield
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def test_init_dist_without_cuda_uses_gloo(single_process_env):
    import mmengine.runner.runner as runner_module
    assert runner_module.init_dist is dist_compat.init_dist
    runner_module.init_dist('pytorch', backend='nccl')
    assert get_backend() == 'gloo'


def test_init_dist_without_fix_fails_on_cpu(single_process_env):
    dist_compat.revert()
    try:
        import mmengine.dist
        with pytest.raises((RuntimeError, AssertionError)):
            mmengine.dist.init_dist('pytorch', backend='nccl')
    finally:
        dist_compat.apply()


def test_ddp_wraps_cpu_model_despite_device_ids(single_process_env):
    torch_dist.init_process_group('gloo')
    model = torch.nn.Linear(3, 2)
    wrapped = MMDistributedDataParallel(model, device_ids=[0])
    assert wrapped.device_ids is None
    inputs = torch.tensor([[1.0, -2.0, 0.5]])
    assert wrapped(inputs).shape == (1, 2)
    assert torch.equal(wrapped(inputs), model(inputs))
    dist_compat.revert()
    try:
        with pytest.raises(ValueError, match='device_ids'):
            MMDistributedDataParallel(torch.nn.Linear(3, 2), device_ids=[0])
    finally:
        dist_compat.apply()


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_negative_hue_shift_inverts_positive_one(backend):
    rng = np.random.default_rng(0)
    img = rng.integers(30, 220, (16, 16, 3), dtype=np.uint8)
    shifted = mmcv.adjust_hue(img, 0.2, backend=backend)
    assert np.abs(shifted.astype(int) - img).mean() > 10
    restored = mmcv.adjust_hue(shifted, -0.2, backend=backend)
    assert np.abs(restored.astype(int) - img).mean() < 6
    assert hue_compat.hue_shift(-0.2) == 205  # int(-51) % 256


def test_without_fix_negative_hue_overflows():
    img = np.full((4, 4, 3), 100, np.uint8)
    hue_compat.revert()
    try:
        with pytest.raises(OverflowError):
            mmcv.adjust_hue(img, -0.1, backend='cv2')
    finally:
        hue_compat.apply()


def test_color_jitter_with_hue_never_crashes():
    jitter = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4,
                         hue=0.3)
    img = np.random.default_rng(1).integers(0, 255, (24, 24, 3), np.uint8)
    for _ in range(40):
        out = jitter({'img': img.copy()})
        assert out['img'].shape == img.shape


@pytest.mark.parametrize('backend', ['cv2', 'pillow'])
def test_color_jitter_negative_hue_turns_the_colour_wheel(backend):
    # BGR: a red row and a green row; a third of a turn backwards makes red
    # blue and green red (a clipped or sign-flipped shift would not)
    img = np.zeros((2, 4, 3), np.uint8)
    img[0], img[1] = (0, 0, 255), (0, 255, 0)
    jitter = ColorJitter(hue=(-1 / 3, -1 / 3), backend=backend)
    out = jitter({'img': img.copy()})['img']
    np.testing.assert_allclose(out[0], [[255, 0, 0]] * 4, atol=8)
    np.testing.assert_allclose(out[1], [[0, 0, 255]] * 4, atol=8)


def test_bug_probes_see_the_installed_bugs():
    """The probes find the upstream bugs of the pinned stack on this CPU
    host, so every fix with a probe is applied here."""
    from fruit_ext.compat import cpu_amp
    assert hue_compat.needs_fix()
    assert cpu_amp.needs_fix()
    assert dist_compat.needs_fix()
    assert mmcv.adjust_hue is hue_compat.adjust_hue


def test_apply_all_skips_a_fix_whose_probe_says_fixed(monkeypatch, capsys):
    """An upstream that no longer has the bug is left unpatched, with a
    log line naming the fix."""
    from mmengine.logging import MMLogger

    import fruit_ext.compat as compat
    from fruit_ext.compat import _log
    hue_compat.revert()
    monkeypatch.setattr(hue_compat, 'needs_fix', lambda: False)
    monkeypatch.setattr(_log, '_SEEN', set())
    MMLogger.get_instance('compat_skip', log_level='DEBUG')  # current
    try:
        compat.apply_all()
        assert mmcv.adjust_hue is hue_compat._original_adjust_hue
    finally:
        hue_compat.apply()
    assert 'adjust_hue: not needed' in capsys.readouterr().out
