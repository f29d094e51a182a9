"""A deterministic train/test split that never reshuffles rows already written.

Each row's split comes from a 64-bit hash of its key column (or of its whole content when no key
is given) salted with the seed: the same row and seed always land in the same split, whatever
batch or append they arrive in.
"""

from typing import Optional, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["SPLIT_COLUMN", "TEST", "TRAIN", "assign_split"]

SPLIT_COLUMN = "split"
TRAIN = "train"
TEST = "test"
_TWO_TO_64 = float(2**64)


def _hash_key(seed: int) -> str:
    # pandas wants exactly 16 bytes of key for its SipHash.
    return f"{seed % 10**16:016d}"


def assign_split(
    batch: pa.RecordBatch,
    test_fraction: float,
    seed: int,
    key_columns: Optional[Sequence[str]] = None,
) -> pa.Array:
    """``train``/``test`` for each row of ``batch``, stable for a given row (or key) and seed.

    Example:
        >>> b = pa.record_batch({"id": [1, 2, 3, 4]})
        >>> assign_split(b, 0.5, seed=7, key_columns=["id"]).to_pylist()  # doctest: +SKIP
        ['test', 'train', 'train', 'test']
    """
    columns = list(key_columns) if key_columns else batch.schema.names
    frame = batch.select(columns).to_pandas()
    hashes = pd.util.hash_pandas_object(frame, index=False, hash_key=_hash_key(seed)).to_numpy()
    is_test = (hashes.astype(np.float64) / _TWO_TO_64) < test_fraction
    return pa.array(np.where(is_test, TEST, TRAIN), type=pa.string())
