# The control of step 3: the same stock ViT from mmpretrain's default
# initialisation (the DeiT recipe's TruncNormal/Constant init).
_base_ = ['./vit_wave_fmnist.py']

model = dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
])
custom_hooks = []
