# Baseline of the init benchmark: TLEG (Xia et al., AAAI 2024) from the
# auxiliary of distill_tleg_fmnist.py, then the same training as
# vit_scratch_fmnist.py. Depth may differ from the auxiliary; width not.
# The head is the auxiliary's too: the target keeps its classes.
_base_ = ['./vit_scratch_fmnist.py']

templates = 'work_dirs/distill_tleg_fmnist/templates.safetensors'

model = dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    dict(type='TLEGInit', templates=templates, head=True),
])
