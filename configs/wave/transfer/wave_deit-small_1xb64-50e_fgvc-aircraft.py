# Transfer to FGVCAircraft (100 classes); see _base_.py.
_base_ = ['./_base_.py']

model = dict(head=dict(num_classes=100))
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(
    dataset=dict(
        type='FGVCAircraft',
        data_root='data/fgvc-aircraft-2013b',
        split='trainval'))
val_dataloader = dict(
    dataset=dict(
        type='FGVCAircraft',
        data_root='data/fgvc-aircraft-2013b',
        split='test'))
test_dataloader = val_dataloader
