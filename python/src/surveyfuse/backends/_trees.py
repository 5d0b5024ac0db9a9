"""Fitted scikit-learn trees as plain arrays, and a numpy ``apply`` over them.

Why: a model file must load without pickle, and draws must be identical
before and after saving. Both follow if sampling always walks the same
stored arrays, so the fitted sklearn objects are only used to build them.
"""

from __future__ import annotations

import numpy as np


def trees_to_arrays(estimators: list) -> dict[str, np.ndarray]:
    """Concatenate the node tables of fitted sklearn trees.

    ``node_offset[t]`` is tree t's first node in the flat tables; child
    indices are stored global (already offset); leaves have feature -1.
    """
    lefts, rights, feats, thrs, offsets = [], [], [], [], [0]
    for est in estimators:
        tree = est.tree_
        off = offsets[-1]
        left = tree.children_left.astype(np.int64)
        right = tree.children_right.astype(np.int64)
        leaf = left < 0
        lefts.append(np.where(leaf, -1, left + off))
        rights.append(np.where(leaf, -1, right + off))
        feats.append(np.where(leaf, -1, tree.feature).astype(np.int64))
        thrs.append(tree.threshold.astype(np.float64))
        offsets.append(off + tree.node_count)
    return {
        "children_left": np.concatenate(lefts),
        "children_right": np.concatenate(rights),
        "feature": np.concatenate(feats),
        "threshold": np.concatenate(thrs),
        "node_offset": np.asarray(offsets, dtype=np.int64),
    }


def apply_trees(arrays: dict[str, np.ndarray], X: np.ndarray, chunk_rows: int = 4096) -> np.ndarray:
    """Global leaf index of every row in every tree: int64 (n, n_trees).

    Mirrors sklearn's ``apply``: X is cast to float32 and a row goes left
    when ``x[feature] <= threshold``, so leaves match the fitted forest.
    """
    X32 = np.asarray(X, dtype=np.float32).astype(np.float64)
    left, right = arrays["children_left"], arrays["children_right"]
    feature, threshold = arrays["feature"], arrays["threshold"]
    roots = arrays["node_offset"][:-1]
    n, T = X32.shape[0], roots.size
    out = np.empty((n, T), dtype=np.int64)
    for start in range(0, n, chunk_rows):
        Xc = X32[start : start + chunk_rows]
        m = Xc.shape[0]
        node = np.broadcast_to(roots, (m, T)).copy().ravel()
        row = np.repeat(np.arange(m), T)
        active = np.flatnonzero(feature[node] >= 0)
        while active.size:
            nd = node[active]
            go_left = Xc[row[active], feature[nd]] <= threshold[nd]
            node[active] = np.where(go_left, left[nd], right[nd])
            active = active[feature[node[active]] >= 0]
        out[start : start + m] = node.reshape(m, T)
    return out
