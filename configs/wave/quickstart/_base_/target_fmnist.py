# What every target of the quickstart and the init benchmark shares: a stock
# ViT classifier (6x128 here; other sizes from the command line, e.g.
#   --cfg-options model.backbone.arch.num_layers=9 \
#                 model.backbone.arch.embed_dims=192 ...)
# from mmpretrain's default initialisation, then brief training. Each
# method is a sibling config that inherits this one alone and sets only its
# initialisation (and, for KD, its teacher).
_base_ = ['./quickstart_fmnist.py']

epochs = 1
# Brief training: one epoch over the first 10k training images (79
# iterations), with a warm-up short enough to reach the peak rate.
train_dataloader = dict(dataset=dict(indices=10000))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, end=20),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        eta_min=1e-5,
        convert_to_iter_based=True)
]

# The target keeps the ancestry's 10 classes.
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch={{_base_.vit.arch}},
        img_size=28,
        patch_size=7,
        in_channels=1),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels={{_base_.vit.arch.embed_dims}},
        loss=dict(type='CrossEntropyLoss')),
    init_cfg={{_base_.deit_init}})

custom_hooks = []
train_cfg = dict(max_epochs=epochs, val_interval=epochs)
default_hooks = dict(checkpoint=dict(interval=epochs))
