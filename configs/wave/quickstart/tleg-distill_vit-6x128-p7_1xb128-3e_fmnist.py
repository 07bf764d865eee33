# Baseline of step 2: distil a TLEG auxiliary (layer l of L is
# theta_A + l/L * theta_B, two full-size templates per weight, fixed scalers)
# from the same ancestry with the same budget. Its templates file
# (templates.safetensors in the work dir) feeds TLEGInit, e.g.
#   init_cfg=dict(type='TLEGInit', templates=...)  on a stock ViT of any
# depth with the auxiliary's width.
_base_ = ['./_base_/distill_fmnist.py']

model = dict(
    backbone=dict(
        type='TLEGTemplate',
        arch={{_base_.vit.arch}},
        img_size=28,
        patch_size=7,
        in_channels=1,
        ancestry='quickstart ancestry ViT 6x128 on Fashion-MNIST'),
    # The baseline as published: no nested distillation.
    nested_min_layers=0,
    nested_widths=[])
