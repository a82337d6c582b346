#!/usr/bin/env python
"""The course's hand-written PyTorch training loop, as a tool.

What lesson 3 of the course writes by hand before handing it all to
mmengine: ``ImageFolder`` + torchvision transforms, a ``DataLoader``, a loss,
an optimizer and a step schedule, ``zero_grad/backward/step`` per batch, a
test loop under ``model.eval()`` and ``torch.no_grad()``, ``torch.save`` of the
``state_dict``, reloading it with ``load_state_dict`` and predicting one image.

Model, batch size, image size, optimizer, LR (scaled as ``auto_scale_lr``
would for one process), schedule, epochs and normalisation are read from an
mmpretrain config (``configs/mobilenet-v2_fruit.py`` by default), so this
loop and ``mim train`` on that config run the same network on the same
settings; ``tools/benchmark/train_throughput.py`` times the two.

Example (fruit30 in folder format)::

    python tools/benchmark/plain_pytorch.py data/fruit30_split \\
        --out-dir work_dirs/plain --predict data/fruit30_split/val/香蕉/1.jpg
"""
import argparse
import json
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from mmengine.config import Config
from PIL import Image
from rich.progress import track
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO / 'configs' / 'mobilenet-v2_fruit.py'


class Settings:
    """Training settings taken from an mmpretrain config.

    Args:
        config: Path of the config file.
        batch_size: Override of ``train_dataloader.batch_size``.
        img_size: Override of the ``RandomResizedCrop`` scale.
        epochs: Override of ``train_cfg.max_epochs``.
    """

    def __init__(self, config: str, batch_size: Optional[int] = None,
                 img_size: Optional[int] = None,
                 epochs: Optional[int] = None) -> None:
        import fruit_ext  # noqa: F401  (registries and compat fixes)
        cfg = Config.fromfile(config)
        self.cfg = cfg
        self.batch_size = batch_size or cfg.train_dataloader.batch_size
        crop = next(t for t in cfg.train_dataloader.dataset.pipeline
                    if t['type'].endswith('RandomResizedCrop'))
        self.img_size = img_size or crop['scale']
        self.epochs = epochs or cfg.train_cfg.max_epochs
        self.mean = [v / 255 for v in cfg.data_preprocessor['mean']]
        self.std = [v / 255 for v in cfg.data_preprocessor['std']]
        optimizer = cfg.optim_wrapper.optimizer
        assert optimizer['type'] == 'SGD', 'only SGD configs are supported'
        self.lr = optimizer['lr']
        scale = cfg.get('auto_scale_lr') or {}
        if scale.get('enable', False):
            self.lr *= self.batch_size / scale['base_batch_size']
        self.momentum = optimizer.get('momentum', 0)
        self.weight_decay = optimizer.get('weight_decay', 0)
        scheduler = cfg.param_scheduler
        assert scheduler['type'] == 'StepLR', 'only StepLR is supported'
        self.step_size = scheduler['step_size']
        self.gamma = scheduler['gamma']

    def build_model(self) -> nn.Module:
        """The config's network, initialised as mmengine does.

        Returns:
            The model; ``model(images)`` returns class logits.
        """
        from mmengine.logging import MMLogger
        from mmpretrain.registry import MODELS

        # mmengine reports every initialised tensor at INFO level.
        MMLogger.get_instance('plain_pytorch', log_level='WARNING')
        model = MODELS.build(self.cfg.model)
        model.init_weights()
        return model

    def train_transform(self) -> transforms.Compose:
        """The course's training augmentation."""
        return transforms.Compose([
            transforms.RandomResizedCrop(self.img_size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(self.mean, self.std),
        ])

    def test_transform(self) -> transforms.Compose:
        """The course's evaluation transform (resize 256/224, centre crop)."""
        return transforms.Compose([
            transforms.Resize(self.img_size * 256 // 224),
            transforms.CenterCrop(self.img_size),
            transforms.ToTensor(),
            transforms.Normalize(self.mean, self.std),
        ])

    def optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """SGD with the config's (scaled) LR, momentum and weight decay."""
        return torch.optim.SGD(model.parameters(), lr=self.lr,
                               momentum=self.momentum,
                               weight_decay=self.weight_decay)


def train_one_epoch(model: nn.Module, loader: DataLoader,
                    criterion: nn.Module, optimizer: torch.optim.Optimizer,
                    device: torch.device,
                    after_step: Optional[Callable[[], None]] = None) -> None:
    """One pass over the training set, as written in the course.

    Args:
        model: The network.
        loader: Yields ``(images, labels)``.
        criterion: The loss.
        optimizer: The optimizer.
        device: Where to train.
        after_step: Called after every optimizer step (for timing).
    """
    model.train()
    for images, labels in loader:
        images = images.to(device)
        labels = labels.to(device)
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step()


def evaluate(model: nn.Module, loader: DataLoader,
             device: torch.device) -> float:
    """Top-1 accuracy (%) on a test loader.

    Args:
        model: The network.
        loader: Yields ``(images, labels)``.
        device: Where to run.

    Returns:
        The accuracy in percent.
    """
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            outputs = model(images.to(device))
            _, preds = torch.max(outputs, 1)
            total += labels.size(0)
            correct += (preds.cpu() == labels).sum().item()
    return 100.0 * correct / max(total, 1)


def predict(model: nn.Module, image: str, transform: transforms.Compose,
            classes: List[str], device: torch.device,
            topk: int = 3) -> List[Tuple[str, float]]:
    """Top-k classes of one image.

    Args:
        model: The network.
        image: Image file.
        transform: Evaluation transform.
        classes: Class names in label order.
        device: Where to run.
        topk: How many classes to return.

    Returns:
        ``(class, probability)`` pairs, best first.
    """
    try:
        pil_image = Image.open(image).convert('RGB')
    except OSError as error:
        raise SystemExit(f'{image}: cannot read image ({error})') from None
    model.eval()
    with torch.no_grad():
        logits = model(transform(pil_image).unsqueeze(0).to(device))
    probs = F.softmax(logits, dim=1)[0].cpu()
    scores, indices = probs.topk(min(topk, len(classes)))
    return [(classes[i], float(s)) for s, i in zip(scores, indices)]


def load_weights(model: nn.Module, path: str) -> None:
    """Load a state_dict (or an mmengine checkpoint's) into ``model``.

    Mismatched shapes (e.g. a 1000-class ImageNet head) are skipped.

    Args:
        model: The network.
        path: Checkpoint file, loaded with ``weights_only=True``.
    """
    state = torch.load(path, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    own = model.state_dict()
    kept = {k: v for k, v in state.items()
            if k in own and own[k].shape == v.shape}
    model.load_state_dict(kept, strict=False)
    print(f'loaded {len(kept)}/{len(own)} tensors from {path}')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('data_root', help='folder with train/ and val/')
    parser.add_argument('--config', default=str(DEFAULT_CONFIG),
                        help='config whose model, schedule and pipeline '
                        'settings the plain loop copies')
    parser.add_argument('--epochs', type=int,
                        help="epochs (none: the config's max_epochs)")
    parser.add_argument('--batch-size', type=int,
                        help="images per batch (none: the config's)")
    parser.add_argument('--img-size', type=int,
                        help="input side in pixels (none: the config's)")
    parser.add_argument('--workers', type=int, default=2,
                        help='DataLoader workers')
    parser.add_argument('--load-from', help='initial weights (state_dict)')
    parser.add_argument('--out-dir', default='work_dirs/plain_pytorch',
                        help='folder for the log and the weights')
    parser.add_argument('--predict', help='image to classify at the end')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    settings = Settings(args.config, args.batch_size, args.img_size,
                        args.epochs)
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    root = Path(args.data_root)
    for split in ('train', 'val'):
        if not (root / split).is_dir():
            raise SystemExit(f'{root / split}: missing (expected '
                             'DATA_ROOT/{train,val}/<class>/*.jpg)')
    train_set = datasets.ImageFolder(root / 'train',
                                     settings.train_transform())
    test_set = datasets.ImageFolder(root / 'val', settings.test_transform())
    loader_args = dict(batch_size=settings.batch_size,
                       num_workers=args.workers,
                       pin_memory=device.type == 'cuda',
                       persistent_workers=args.workers > 0)
    train_loader = DataLoader(train_set, shuffle=True, **loader_args)
    test_loader = DataLoader(test_set, shuffle=False, **loader_args)

    model = settings.build_model()
    if args.load_from:
        load_weights(model, args.load_from)
    model = model.to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = settings.optimizer(model)
    scheduler = torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=settings.step_size, gamma=settings.gamma)

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log: List[Dict[str, float]] = []
    for epoch in track(range(1, settings.epochs + 1), description='train'):
        start = time.perf_counter()
        train_one_epoch(model, train_loader, criterion, optimizer, device)
        scheduler.step()
        accuracy = evaluate(model, test_loader, device)
        log.append(dict(epoch=epoch, accuracy=accuracy,
                        seconds=time.perf_counter() - start))
        print(f'epoch {epoch}: val accuracy {accuracy:.2f} %')

    checkpoint = out_dir / 'plain_pytorch.pth'
    torch.save(model.state_dict(), checkpoint)
    reloaded = settings.build_model()
    reloaded.load_state_dict(
        torch.load(checkpoint, map_location='cpu', weights_only=True))
    reloaded = reloaded.to(device)
    accuracy = evaluate(reloaded, test_loader, device)
    print(f'saved {checkpoint}; reloaded val accuracy {accuracy:.2f} %')
    summary = dict(classes=train_set.classes, log=log, checkpoint=str(
        checkpoint), reloaded_accuracy=accuracy)
    if args.predict:
        top = predict(reloaded, args.predict, settings.test_transform(),
                      train_set.classes, device)
        summary['prediction'] = top
        print('prediction: ' + ', '.join(f'{c} {p:.3f}' for c, p in top))
    (out_dir / 'summary.json').write_text(
        json.dumps(summary, ensure_ascii=False, indent=1))


if __name__ == '__main__':
    main()
