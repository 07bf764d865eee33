# Transfer to Caltech101 (102 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=102))
data_preprocessor = dict(num_classes=102)
train_dataloader = dict(
    dataset=dict(
        type='Caltech101', data_root='data/caltech-101', split='train'))
val_dataloader = dict(
    dataset=dict(
        type='Caltech101', data_root='data/caltech-101', split='test'))
test_dataloader = val_dataloader
