# The control of step 3 of the quickstart and of the init benchmark: the
# stock ViT from mmpretrain's default initialisation (the DeiT recipe's
# TruncNormal/Constant init), trained as every target is.
_base_ = ['./_base_/target_fmnist.py']
