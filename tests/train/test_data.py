"""The MNIST file is read as it is, and the split is seeded, stratified and disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from accel.errors import AccelError
from accel.train import data


@pytest.fixture(scope="module")
def mnist():
    return data.load_mnist()


def test_images_are_real_mnist(mnist):
    images, labels = mnist
    assert images.shape == (5000, 1, 28, 28) and images.dtype == np.float32
    assert np.bincount(labels).tolist() == [500] * 10
    assert images.min() == 0.0 and images.max() == 1.0
    assert 0.7 < np.mean(images == 0) < 0.9  # black background: exact zeros


def test_split_is_seeded_stratified_and_disjoint(mnist):
    images, labels = mnist
    a = data.split(images, labels, 400, 100, seed=3)
    b = data.split(images, labels, 400, 100, seed=3)
    c = data.split(images, labels, 400, 100, seed=4)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert not np.array_equal(a.x_test, c.x_test)
    assert np.bincount(a.y_test, minlength=10).tolist() == [10] * 10
    assert np.bincount(a.y_train, minlength=10).tolist() == [40] * 10
    train = {x.tobytes() for x in a.x_train}
    assert not any(x.tobytes() in train for x in a.x_test)


@pytest.mark.parametrize(("n_train", "n_test"), [(0, 10), (10, -1), (4500, 1000)])
def test_split_rejects_bad_sizes(mnist, n_train, n_test):
    with pytest.raises(AccelError):
        data.split(*mnist, n_train, n_test, seed=0)


def test_missing_file_is_an_accel_error(tmp_path):
    with pytest.raises(AccelError, match="cannot read"):
        data.load_mnist(tmp_path / "nope.csv.gz")
