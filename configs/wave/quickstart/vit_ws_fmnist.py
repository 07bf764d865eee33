# Baseline of the init benchmark: Weight Selection (Xu et al., ICLR 2024)
# from the ancestry's checkpoint, then the same training as
# vit_scratch_fmnist.py. The head is selected too: the target keeps the
# ancestry's classes (the paper drops it for transfer).
_base_ = ['./vit_scratch_fmnist.py']

ancestry_checkpoint = 'work_dirs/ancestry_vit_fmnist/epoch_3.pth'

model = dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    dict(
        type='WeightSelectionInit', checkpoint=ancestry_checkpoint, head=True),
])
