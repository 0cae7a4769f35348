"""Random log-mel batches of given clip lengths, zero-padded with their frame masks, for encoder tests."""

import torch


def random_mel_batch(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (len(lengths), 128, max(lengths)), mask (len(lengths), max(lengths))): seeded noise on each
    clip's frames, zeros and mask 0 after them."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.zeros(len(lengths), 128, max(lengths))
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, length in enumerate(lengths):
        features[row, :, :length] = torch.randn(128, length, generator=generator)
        mask[row, :length] = 1
    return features, mask
