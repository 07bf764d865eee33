# Step 3 of the quickstart: a stock ViT of another size initialised from the
# templates (WaveInit), its scalers fitted on a little data (ScalerInitHook),
# then trained normally. Sizes are set from the command line, e.g.
#   --cfg-options model.backbone.arch.num_layers=9 \
#                 model.backbone.arch.embed_dims=192 ...
_base_ = ['./_base_.py']

templates = 'work_dirs/distill_fmnist/templates.safetensors'
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

# On the whole classifier: the target keeps the ancestry's 10 classes, so
# its head starts from the auxiliary's too (head=True).
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
    init_cfg=dict(type='WaveInit', templates=templates, head=True))

custom_hooks = [
    dict(
        type='ScalerInitHook',
        iters=80,
        lr=3e-3,  # with a nested auxiliary (docs/benchmarks.md, ablations)
        evaluate=True,
        log_interval=20)
]
train_cfg = dict(max_epochs=epochs, val_interval=epochs)
default_hooks = dict(checkpoint=dict(interval=epochs))
