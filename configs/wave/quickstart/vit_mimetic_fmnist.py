# Baseline of the init benchmark: mimetic initialisation (Trockman & Kolter,
# ICML 2023), data-free, then the same training as vit_scratch_fmnist.py.
_base_ = ['./vit_scratch_fmnist.py']

model = dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    dict(type='MimeticInit'),
])
