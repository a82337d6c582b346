# The quick start's job: fruit30's layout and classes with the built-in demo
# images (python tools/dataset/make_demo_fruit30.py), MobileNetV2 trained from
# scratch at 64 px in a few minutes on a 2-core CPU.
_base_ = './mobilenet-v2_fruit.py'

data_root = 'data/fruit30_demo'
load_from = None  # nothing to download: train from scratch

# 64 px pipelines. data_root is written into the dataloaders too, for
# mmpretrain's own tools (browse_dataset, vis_cam, ...), which build datasets
# without FruitRunner.
train_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, crop_ratio_range=(0.35, 1.0),
         backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='RobustLoadImageFromFile'),
    dict(type='ResizeEdge', scale=72, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader

# From scratch: AdamW with a cosine schedule learns much faster here than
# fine-tuning's SGD. auto_scale_lr still applies: 0.016 x 32 / 256 = 0.002
# on one process. T_max follows train_cfg.max_epochs (FruitRunner).
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=0.016, weight_decay=0.05))
train_cfg = dict(max_epochs=40, val_interval=5)
param_scheduler = dict(
    _delete_=True, type='CosineAnnealingLR', by_epoch=True, T_max=40,
    eta_min=1e-5)
default_hooks = dict(logger=dict(interval=20))
randomness = dict(seed=0)
