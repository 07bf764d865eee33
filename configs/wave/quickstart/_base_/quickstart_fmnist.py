# Shared settings of the Fashion-MNIST quickstart: a 6x128 ViT (4 heads,
# patch 7 -> 16 tokens) on a 20k-image training subset, sized so ancestry
# and distillation together take a few minutes on 2 CPU cores.
_base_ = [
    '../../../_base_/datasets/fashion_mnist_bs128.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['wave_mm'], allow_failed_imports=False)

vit = dict(
    type='VisionTransformer',
    arch=dict(
        embed_dims=128, num_layers=6, num_heads=4, feedforward_channels=512),
    img_size=28,
    patch_size=7,
    in_channels=1)
# The ancestry classifier: trained by ancestry_vit-6x128-p7_1xb128-3e_fmnist,
# the teacher of the distillations and of the KD control.
ancestry = dict(
    type='ImageClassifier',
    backbone=vit,
    neck=None,
    head=dict(
        type='VisionTransformerClsHead', num_classes=10, in_channels=128))
# Where the ancestry's run writes (a checkpoint file or a work dir, whose
# last checkpoint is read).
ancestry_work_dir = 'work_dirs/ancestry_vit-6x128-p7_1xb128-3e_fmnist'
# mmpretrain's default (DeiT recipe) initialisation of a stock ViT.
deit_init = [
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]
train_subset = 20000
epochs = 3

train_dataloader = dict(dataset=dict(indices=train_subset))
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, end=100),
    dict(
        type='CosineAnnealingLR',
        by_epoch=True,
        eta_min=1e-5,
        convert_to_iter_based=True)
]
train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=epochs))
randomness = dict(seed=0)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
