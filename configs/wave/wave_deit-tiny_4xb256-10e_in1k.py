# DeiT-Ti (12 x 192, 3 heads) from the DeiT-B templates; see the DeiT-S file.
_base_ = ['./wave_deit-small_4xb256-10e_in1k.py']

model = dict(backbone=dict(arch='deit-tiny'), head=dict(in_channels=192))
