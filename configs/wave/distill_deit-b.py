# Stage 1 on ImageNet-1K: distil weight templates from a pre-trained DeiT-B
# (the ancestry, frozen teacher) into an auxiliary model of DeiT-B shape whose
# block weights are sum_k S_k (x) T_k of 192x192-based templates.
#
#   python tools/train.py configs/wave/distill_deit-b.py
#   bash tools/dist_train.sh configs/wave/distill_deit-b.py 8
#
# Batch layout as in mmpretrain's name: 16 GPUs x 64 images. The paper's
# stage 1 runs about 150 epochs; the templates file is written to the work
# dir at every checkpoint and at the end (templates.safetensors).
_base_ = ['mmpretrain::deit/deit-base_16xb64_in1k.py']
custom_imports = dict(imports=['wave_mm'], allow_failed_imports=False)

# mmpretrain's DeiT-B (81.76 top-1); the download host is unreliable, so
# fetch it once into this local path.
teacher_checkpoint = 'checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth'  # noqa: E501
epochs = 150
warmup_epochs = 5

deit_base = dict(
    type='VisionTransformer', arch='deit-base', img_size=224, patch_size=16)

model = dict(
    _delete_=True,
    type='DistillImageClassifier',
    backbone=dict(
        type='WaveTemplate',
        arch='deit-base',
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1,
        template_width=192,
        num_templates=12,
        ancestry='mmpretrain deit-base_16xb64_in1k (81.76 top-1)'),
    neck=None,
    head=dict(
        type='KroneckerDistillHead',
        num_classes=1000,
        in_channels=768,
        alpha=1.0,
        tau=1.0,
        distill='soft',
        loss=dict(
            type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')),
    teacher=dict(
        model=dict(
            type='ImageClassifier',
            backbone=deit_base,
            neck=None,
            head=dict(
                type='VisionTransformerClsHead',
                num_classes=1000,
                in_channels=768)),
        checkpoint=teacher_checkpoint),
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0)
    ]),
)

# Fused AdamW (one kernel per step: +8% img/s on an H100, see
# docs/benchmarks/distill_step.md); no weight decay on templates of norms,
# biases and embeddings.
optim_wrapper = dict(
    optimizer=dict(fused=True),
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={
            '.cls_token': dict(decay_mult=0.0),
            '.pos_embed': dict(decay_mult=0.0),
            '_bias': dict(decay_mult=0.0),
            '_weight': dict(decay_mult=0.0),
        }),
    clip_grad=dict(max_norm=5.0),
)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        eta_min=1e-5,
        by_epoch=True,
        begin=warmup_epochs,
        end=epochs)
]
train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=10)

# The EMA copy of the base recipe is replaced by the templates export.
custom_hooks = [dict(type='TemplateExportHook')]
