# Step 3 of the quickstart: a stock ViT of another size initialised from the
# templates (WaveInit), its scalers fitted on a little data (ScalerInitHook),
# then trained as every target is.
_base_ = ['./_base_/target_fmnist.py']

templates = ('work_dirs/distill_vit-6x128-p7_1xb128-3e_fmnist/'
             'templates.safetensors')

# On the whole classifier: the target keeps the ancestry's 10 classes, so
# its head starts from the auxiliary's too (head=True).
model = dict(
    init_cfg=dict(
        _delete_=True, type='WaveInit', templates=templates, head=True))

custom_hooks = [
    dict(
        type='ScalerInitHook',
        iters=80,
        lr=3e-3,  # with a nested auxiliary (docs/defaults.md)
        evaluate=True,
        log_interval=20)
]
