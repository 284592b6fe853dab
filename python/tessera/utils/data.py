"""torch.utils.data's path to tessera.data (datasets, samplers, DataLoader)."""
from ..data import *  # noqa: F401,F403
from ..data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset, IterableDataset,  # noqa: F401
                    RandomSampler, Sampler, get_worker_info,
                    SequentialSampler, Subset, SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                    default_collate, random_split)
