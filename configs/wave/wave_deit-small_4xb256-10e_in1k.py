# Stage 2 on ImageNet-1K: a stock DeiT-S initialised from the DeiT-B
# templates (WaveInit), its scalers fitted on a little data
# (ScalerInitHook, templates frozen), then trained 10 epochs with the DeiT
# recipe (the paper: 10 epochs after WAVE beat 150 of direct training).
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']
custom_imports = dict(imports=['wave_mm'], allow_failed_imports=False)

# Written by configs/wave/distill_deit-b.py.
templates = 'work_dirs/distill_deit-b/templates.safetensors'
epochs = 10
warmup_epochs = 1

model = dict(
    # On the whole model (replacing the DeiT TruncNormal/Constant list);
    # the new head keeps its own init.
    init_cfg=[dict(type='WaveInit', templates=templates)])

custom_hooks = [
    dict(
        type='ScalerInitHook',
        iters=300,
        lr=1e-2,
        train_extra=('head', ),
        # A fixed count, not a share of 1.28M images: each held-out check
        # reads these 5,000.
        holdout=5000,
        log_interval=50)
]
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
train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=1)
