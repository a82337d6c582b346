# TensorBoard preset: write event files (work_dir/<timestamp>/vis_data/
# events.out.tfevents.*) besides mmengine's local JSON logs, which
# tools/analysis/plot_curves.py reads. Use it in a config of your own:
#
#   _base_ = ['./mobilenet-v2_fruit.py', './_base_/tensorboard.py']
#   visualizer = dict(vis_backends=_base_.tensorboard_backends)
#
# then `tensorboard --logdir work_dirs/`. With any config and no file, one
# flag gives TensorBoard instead of the JSON logs (plot_curves.py then has
# nothing to read; the text log is complete either way):
#
#   --cfg-options visualizer.vis_backends.0.type=TensorboardVisBackend
#
# tensorboard is installed by tools/setup_env.sh (requirements/runtime.txt).
tensorboard_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend'),
]
