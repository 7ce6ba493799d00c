"""Training: data sets, losses, augmentation, the training loop and fine-tuning."""
