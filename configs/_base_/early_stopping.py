# Early stopping preset: end training when val top-1 stops improving
# (mmengine's EarlyStoppingHook). Use it in a config of your own:
#
#   _base_ = ['./mobilenet-v2_fruit.py', './_base_/early_stopping.py']
#   default_hooks = dict(early_stopping=_base_.early_stopping)
#
# (default_hooks is a dict merged key by key, so the config keeps its other
# hooks; mmengine refuses two bases that both set default_hooks, hence the
# variable.) Or, with any config and no file, from the command line:
#
#   --cfg-options default_hooks.early_stopping.type=EarlyStoppingHook \
#       default_hooks.early_stopping.monitor=accuracy/top1
#
# (mmengine's defaults are the values below.) Tune it the same way:
# default_hooks.early_stopping.patience=3. patience counts validations, so
# with train_cfg.val_interval=5 a patience of 5 is 25 epochs. --resume
# continues the count (fruit_ext keeps it in each checkpoint; a checkpoint
# is written before that epoch's validation, so that one is not counted).
early_stopping = dict(
    type='EarlyStoppingHook',
    monitor='accuracy/top1',  # a key of the val metrics, in percent
    rule='greater',
    min_delta=0.1,  # gains under 0.1 point of top-1 do not count
    patience=5)  # validations without a gain before training stops
