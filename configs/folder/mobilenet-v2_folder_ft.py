# Your own folder of photos with the fine-tuning recipe
# (configs/mobilenet-v2_fruit_ft.py); see mobilenet-v2_folder.py for the
# folder layout, classes and the on-the-fly val split.
_base_ = '../mobilenet-v2_fruit_ft.py'

data_root = 'data/my_photos'
classes = 'folders'
holdout = dict(ratio=0.2, seed=0)
