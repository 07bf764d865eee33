# Step 1 of the quickstart: train the ancestry ViT that templates are
# distilled from (stands in for the pre-trained DeiT-B of ImageNet).
_base_ = ['./_base_/quickstart_fmnist.py']

model = dict(
    type='ImageClassifier',
    backbone={{_base_.vit}},
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss')),
    init_cfg={{_base_.deit_init}})
