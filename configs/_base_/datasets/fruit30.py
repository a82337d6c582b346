# fruit30 in folder format: data/fruit30_split/{train,val}/<class>/*.jpg.
# ImageNet-style pipelines (224 px), 30 classes. Compose it with any model,
# schedule and runtime base, e.g.
#   _base_ = ['mmpretrain::_base_/models/resnet18.py',
#             '../_base_/datasets/fruit30.py', ...]
# `data_root` (and `classes`) set once - here, in a config built on this
# one, or with --cfg-options - reach every dataloader: FruitRunner resolves
# them before anything is built (fruit_ext/engine/resolve_config.py).
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py'

custom_imports = dict(imports=['fruit_ext'], allow_failed_imports=False)
runner_type = 'FruitRunner'

dataset_type = 'Fruit30'
data_root = 'data/fruit30_split'
data_preprocessor = dict(num_classes=30)

# The base's augmentation, loaded robustly (EXIF, alpha, CMYK, 16-bit) and
# decoding JPEGs at reduced scale where the output allows it.
train_pipeline = [
    dict(type='RobustLoadImageFromFile', lazy=True),
    dict(type='FastRandomResizedCrop', scale=224, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='RobustLoadImageFromFile', min_size=256),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
# on_broken='skip' serves another image for an undecodable file instead of
# stopping the run (BrokenImageLogHook counts them per epoch).
# persistent_workers / pin_memory: fruit_ext drops them with 0 workers / no GPU.
train_dataloader = dict(
    persistent_workers=True,
    pin_memory=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 on_broken='raise', pipeline=train_pipeline))
val_dataloader = dict(
    persistent_workers=True,
    pin_memory=True,
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 on_broken='raise', pipeline=test_pipeline))
test_dataloader = val_dataloader
