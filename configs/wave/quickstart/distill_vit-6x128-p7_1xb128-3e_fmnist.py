# Step 2 of the quickstart: distil weight templates from the ancestry into an
# auxiliary ViT of the same shape whose weights are sum_k S_k (x) T_k.
# The templates file lands in the work dir as templates.safetensors.
_base_ = ['./_base_/distill_fmnist.py']

model = dict(
    backbone=dict(
        type='WaveTemplate',
        arch={{_base_.vit.arch}},
        img_size=28,
        patch_size=7,
        in_channels=1,
        template_width=64,
        # 16 beat 8 and 4 after one epoch in the init benchmark's ablation
        # (8 was a little ahead after 10-20); docs/defaults.md.
        num_templates=16,
        ancestry='quickstart ancestry ViT 6x128 on Fashion-MNIST'),
    # Also distil the first 1-5 layers and the 64- and 96-wide crops, as
    # WaveInit makes shallower and narrower targets: chosen by the init
    # benchmark's ablation (docs/defaults.md); 1.25-1.5x the step time.
    nested_min_layers=1,
    nested_widths=[64, 96])
