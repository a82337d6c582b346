# Fine-tune ImageNet MobileNetV2 on fruit30 (the course's lesson-3 job).
#   mim train mmpretrain configs/mobilenet-v2_fruit.py
# mmpretrain's MobileNetV2 model, runtime and SGD schedule (written for
# 8 GPUs x 32 images, lr 0.045); auto_scale_lr rescales it to the real
# batch: 0.005625 on 1 GPU x 32.
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    './_base_/datasets/fruit30.py',
    'mmpretrain::_base_/schedules/imagenet_bs256_epochstep.py',
    'mmpretrain::_base_/default_runtime.py',
]

# ---- model: 30-way head, ImageNet weights (the 1000-way fc is dropped) ----
model = dict(head=dict(num_classes=30))
load_from = ('https://download.openmmlab.com/mmclassification/v0/'
             'mobilenet_v2/mobilenet_v2_batch256_imagenet_20200708-3b2dc3af.pth')

# ---- schedule: MobileNetV2's SGD (lr 0.045 for 8x32), fine-tuning length ----
param_scheduler = dict(step_size=5, gamma=0.5)
train_cfg = dict(max_epochs=20)
auto_scale_lr = dict(enable=True, base_batch_size=256)

# ---- runtime ----
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=1, max_keep_ckpts=3, save_best='auto'))
custom_hooks = [
    # logs the LR in use and the auto_scale_lr rule; keeps it on resume
    dict(type='LRScalingLogHook'),
    # counts images skipped with on_broken='skip', per epoch
    dict(type='BrokenImageLogHook'),
    # NHWC memory format: on with a GPU; enable=True forces it on CPU too
    dict(type='ChannelsLastHook'),
    # best.pth / last.pth in the work dir, the names every tool takes
    dict(type='CheckpointLinksHook'),
]

# ---- speed options (measured in docs/benchmarks.md, Training throughput) ----
# Mixed precision: `--amp`, or optim_wrapper = dict(type='AmpOptimWrapper',
# dtype='bfloat16') (float16 default on GPU; bfloat16 on CPU).
compile = False  # True (or dict(mode=...)): torch.compile the model
