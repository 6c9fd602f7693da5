"""The checks read patterns from values alone and name the tensor when one is broken."""

from __future__ import annotations

import numpy as np
import pytest

from accel.errors import AccelError
from accel.prune import (
    apply_mask,
    check_blocks,
    check_channels,
    check_nm,
    nm_mask,
    sparsity,
    zero_blocks,
    zero_channels,
)


def test_sparsity_counts_exact_zeros_only():
    assert sparsity(np.array([0.0, -0.0, 1e-30, 2.0])) == 0.5
    assert sparsity(np.zeros((0, 3))) == 0.0


def test_check_nm_passes_a_pruned_tensor_and_names_a_broken_one():
    w = np.random.default_rng(0).normal(size=(4, 3, 3, 3))  # K = 27, last group of 3
    pruned = apply_mask(w, nm_mask(w, 2, 4))
    check_nm(pruned, 2, 4, name="conv1.weight")
    view = pruned.reshape(4, 27)  # a view: writes go to ``pruned``
    view[2, np.flatnonzero(view[2, :4] == 0)[0]] = 7.0  # group 0 of channel 2 now holds 3
    with pytest.raises(AccelError) as info:
        check_nm(pruned, 2, 4, name="conv1.weight")
    msg = str(info.value)
    assert "conv1.weight" in msg and "channel 2" in msg and "0..3" in msg and "2:4" in msg


def test_check_nm_counts_the_partial_group():
    check_nm(np.array([[1, 1, 0, 0, 1, 1]]), 2, 4)
    with pytest.raises(AccelError, match="4..6"):
        check_nm(np.array([[1, 1, 0, 0, 1, 1, 1]]), 2, 4)


def test_channel_and_block_checks():
    w = np.ones((4, 2, 3))
    w[1] = 0
    w[3, 0] = 0  # half a channel: not whole
    assert zero_channels(w) == 1
    check_channels(w, 1, name="fc")
    with pytest.raises(AccelError, match="fc: 1 whole output channels are zero, expected 2"):
        check_channels(w, 2, name="fc")
    v = np.ones((3, 10))
    v[0:2, 0:4] = 0  # one full 2x4 tile
    v[2, 8:10] = 0  # the corner edge tile (1x2)
    assert zero_blocks(v, (2, 4)) == 2
    check_blocks(v, 2, (2, 4))
    with pytest.raises(AccelError, match="expected 3"):
        check_blocks(v, 3, (2, 4))
