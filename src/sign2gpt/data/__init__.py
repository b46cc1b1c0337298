"""Data: manifests, frame stores, sampling, augmentation, datasets."""
