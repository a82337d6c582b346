# fruit30 in folder format: data/fruit30_split/{train,val}/<class>/*.jpg.
# ImageNet-style pipelines (224 px), 30 classes. Compose it with any model,
# schedule and runtime base, e.g.
#   _base_ = ['mmpretrain::_base_/models/resnet18.py',
#             '../_base_/datasets/fruit30.py', ...]
_base_ = 'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py'

custom_imports = dict(imports=['fruit_ext'], allow_failed_imports=False)

dataset_type = 'Fruit30'
data_root = 'data/fruit30_split'
data_preprocessor = dict(num_classes=30)

train_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='train'))
val_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, split='val'))
test_dataloader = val_dataloader
