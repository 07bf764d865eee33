# Transfer to CIFAR100 (100 classes): the CIFAR10 recipe, other data.
_base_ = ['./wave_deit-small_1xb64-50e_cifar10.py']

model = dict(head=dict(num_classes=100))
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(
    dataset=dict(type='CIFAR100', data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type='CIFAR100', data_root='data/cifar100'))
test_dataloader = val_dataloader
