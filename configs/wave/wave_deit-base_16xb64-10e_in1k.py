# DeiT-B (12 x 768) from the DeiT-B templates: for the auxiliary's own arch
# the data-free scalers reproduce the auxiliary, the hook then refines them.
_base_ = ['./wave_deit-small_4xb256-10e_in1k.py']

model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.1),
    head=dict(in_channels=768))
train_dataloader = dict(batch_size=64)
