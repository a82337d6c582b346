# Your own folder of photos, one folder per class, in one command:
#   mim train mmpretrain configs/folder/mobilenet-v2_folder.py \
#       --cfg-options data_root=data/my_photos
# data_root holds <class>/*.jpg (20 % of every class is held out for val on
# the fly, seeded, as tools/dataset/split.py would), or train/<class>/ with
# an optional val/<class>/. Classes are the sorted folder names, or
# {data_root}/classes.txt (one name per line) when it exists; the head, the
# data preprocessor and the top-k metric are sized to match (FruitRunner).
# Everything else is the course's recipe (configs/mobilenet-v2_fruit.py).
_base_ = '../mobilenet-v2_fruit.py'

data_root = 'data/my_photos'
classes = 'folders'
holdout = dict(ratio=0.2, seed=0)  # used only where val/ does not exist
