# DeiT-S width (384, 6 heads) at depth 9: the scalers of the 12 auxiliary
# layers are interpolated over relative depth, then fitted.
_base_ = ['./wave_deit-small_4xb256-10e_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=384,
            num_layers=9,
            num_heads=6,
            feedforward_channels=1536)))
