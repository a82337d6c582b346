# Fine-tune ImageNet MobileNetV2 on fruit30 (the course's lesson-3 job).
#   mim train mmpretrain configs/mobilenet-v2_fruit.py
# The base schedule is written for 8 GPUs x 32 images (lr 0.045);
# auto_scale_lr rescales it to the real batch: 0.005625 on 1 GPU x 32.
_base_ = 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py'

custom_imports = dict(imports=['fruit_ext'], allow_failed_imports=False)

# ---- data: fruit30 instead of ImageNet ----
# The base's augmentation, loaded robustly (EXIF, alpha, CMYK, 16-bit) and
# decoding JPEGs at reduced scale where the output allows it.
# on_broken='skip' serves another image for an undecodable file (logged,
# counted per epoch by BrokenImageLogHook) instead of stopping the run.
data_root = 'data/fruit30_split'
data_preprocessor = dict(num_classes=30)
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
train_dataloader = dict(
    persistent_workers=True,  # fruit_ext drops it when num_workers=0
    pin_memory=True,  # and this one when there is no GPU
    dataset=dict(type='Fruit30', data_root=data_root, on_broken='raise',
                 pipeline=train_pipeline))
val_dataloader = dict(
    persistent_workers=True,
    pin_memory=True,
    dataset=dict(type='Fruit30', data_root=data_root, on_broken='raise',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

# ---- model: 30-way head, ImageNet weights (the 1000-way fc is dropped) ----
model = dict(head=dict(num_classes=30))
load_from = ('https://download.openmmlab.com/mmclassification/v0/'
             'mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth')

# ---- schedule: fine-tuning, not 300 epochs from scratch ----
train_cfg = dict(max_epochs=20, val_interval=1)
param_scheduler = dict(step_size=5, gamma=0.5)
auto_scale_lr = dict(enable=True, base_batch_size=256)

# ---- runtime ----
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'))
custom_hooks = [
    dict(type='LRScalingLogHook'),
    dict(type='BrokenImageLogHook'),
    # NHWC memory format: on with a GPU; enable=True forces it on CPU too
    dict(type='ChannelsLastHook'),
]

# ---- speed options (measured in docs/benchmarks.md, Training throughput) ----
# Mixed precision: `--amp`, or optim_wrapper = dict(type='AmpOptimWrapper',
# dtype='bfloat16') (float16 default on GPU; bfloat16 on CPU).
compile = False  # True (or dict(mode=...)): torch.compile the model
