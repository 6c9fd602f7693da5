"""Trained models for the accelerator: a NumPy LeNet-5 on real MNIST, its int8 inference
path, and the measured accuracy / speed / energy trade-off of pruning methods."""
