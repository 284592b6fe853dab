"""torch.utils.data's path to tessera.data (datasets, samplers, DataLoader)."""
from ..data import *  # noqa: F401,F403
from ..data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler,  # noqa: F401
                    SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                    default_collate, random_split)
