"""Multi-index matching of 64-bit hashes, and groups of matched pairs.

Matching is sub-quadratic (multi-index hashing, Norouzi et al. 2012): the
hash is cut into 4 bands of 16 bits; two hashes within distance T agree
within ``T // 4`` bits on at least one band, so candidates are the images
whose band is within that radius of another's (a sorted-array join per
flip mask), and only candidates get the full check. Groups are the
connected components of the pair graph (scipy). Embeddings are matched
exactly by cosine similarity, in blocks.
"""
import itertools
from typing import Dict, List, Tuple

import numpy as np

BANDS = 4
BAND_BITS = 64 // BANDS


def _popcount(values: np.ndarray) -> np.ndarray:
    return np.bitwise_count(values).astype(np.int64)


def _flip_masks(radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in bits)
                  for bits in itertools.combinations(range(BAND_BITS), r)]
    return np.array(masks, dtype=np.uint64)


def _band_matches(keys: np.ndarray, order: np.ndarray, ordered: np.ndarray,
                  chunk: int = 1 << 22):
    """(query, index) positions whose band value equals ``keys``.

    ``ordered`` is the index's band values sorted, ``order`` their
    positions. Yields arrays of at most about ``chunk`` pairs, so a popular
    band value never needs all its pairs in memory at once.
    """
    lo = np.searchsorted(ordered, keys, 'left')
    counts = np.searchsorted(ordered, keys, 'right') - lo
    ends = np.cumsum(counts)
    start = 0
    while start < len(keys):
        stop = int(np.searchsorted(ends, ends[start] - counts[start] + chunk,
                                   'right'))
        stop = max(stop, start + 1)
        part = counts[start:stop]
        total = int(part.sum())
        if total:
            left = np.repeat(np.arange(start, stop), part)
            first = np.repeat(lo[start:stop] - np.cumsum(part) + part, part)
            yield np.stack([left, order[first + np.arange(total)]], 1)
        start = stop


def candidate_pairs(query: np.ndarray, index: np.ndarray, threshold: int,
                    keep=None) -> np.ndarray:
    """(query, index) positions whose hashes may be within ``threshold``.

    Every pair within the threshold is among them (pigeonhole over the
    bands); most others are not.

    Args:
        query: (N,) uint64 hashes.
        index: (M,) uint64 hashes.
        threshold: Hamming distance.
        keep: Optional filter ``(P, 2) pairs -> (P,) bool`` applied to each
            chunk of candidates as it is found (keeps memory bounded).

    Returns:
        (P, 2) int64 array of unique (query, index) positions.
    """
    found = []
    low = np.uint64(0xFFFF)
    for band in range(BANDS):
        shift = np.uint64(band * BAND_BITS)
        stored = (index >> shift) & low
        order = np.argsort(stored, kind='stable')
        keys = (query >> shift) & low
        for mask in _flip_masks(threshold // BANDS):
            for pairs in _band_matches(keys ^ mask, order, stored[order]):
                found.append(pairs[keep(pairs)] if keep else pairs)
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(found), axis=0)


def connected_groups(num: int, pairs: np.ndarray) -> List[List[int]]:
    """Groups (connected components) of 2+ items linked by ``pairs``.

    Args:
        num: Number of items.
        pairs: (M, 2) index pairs.

    Returns:
        Sorted index lists, largest group first.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    if num == 0 or len(pairs) == 0:
        return []
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                       shape=(num, num))
    _, labels = connected_components(graph, directed=False)
    members: Dict[int, List[int]] = {}
    for index, label in enumerate(labels):
        members.setdefault(int(label), []).append(index)
    groups = [m for m in members.values() if len(m) > 1]
    return sorted(groups, key=lambda m: (-len(m), m[0]))


def cosine_pairs(feats: np.ndarray, min_cosine: float,
                 block: int = 2048) -> Tuple[np.ndarray, np.ndarray]:
    """Pairs of rows whose cosine similarity is at least ``min_cosine``.

    Exact, blocked (``block`` rows at a time) so memory stays bounded.

    Args:
        feats: (N, D) embeddings (normalised here).
        min_cosine: Similarity threshold, -1 to 1.
        block: Rows per matrix product.

    Returns:
        ((M, 2) index pairs i < j, (M,) similarities).
    """
    feats = np.asarray(feats, dtype=np.float32)
    feats = feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True),
                               1e-12)
    pairs, sims = [], []
    for start in range(0, len(feats), block):
        sim = feats[start:start + block] @ feats.T
        rows, cols = np.nonzero(sim >= min_cosine)
        rows += start
        keep = rows < cols
        pairs.append(np.stack([rows[keep], cols[keep]], 1))
        sims.append(sim[rows[keep] - start, cols[keep]])
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, np.float32)
    return np.concatenate(pairs).astype(np.int64), np.concatenate(sims)
