# Width 288 (6 heads of 48), not a multiple of the 192 or 64 templates: the
# next multiple is composed and cropped.
_base_ = ['./wave_deit-small_4xb256-10e_in1k.py']

model = dict(
    backbone=dict(
        arch=dict(
            _delete_=True,
            embed_dims=288,
            num_layers=12,
            num_heads=6,
            feedforward_channels=1152)),
    head=dict(in_channels=288))
