# SPDX-License-Identifier: GPL-2.0-or-later
import os

import pytest

import scfs


def pytest_collection_modifyitems(config, items):
    if not scfs.can_mount():
        skip = pytest.mark.skip(reason="needs root and /dev/fuse")
        for item in items:
            item.add_marker(skip)


@pytest.fixture
def dirs():
    """(base, backing, mountpoint, reference): reference is a plain
    directory beside the backing one, for differential tests."""
    base = scfs.make_tempdir("scfs-")
    paths = [os.path.join(base, n) for n in ("backing", "mnt", "ref")]
    for p in paths:
        os.mkdir(p)
        os.chmod(p, 0o755)
    yield (base, *paths)
    scfs.rmtree(base)


@pytest.fixture
def mount(dirs):
    """A live mount over an empty backing directory, plus its reference."""
    base, backing, mnt, ref = dirs
    m = scfs.Mount(backing, mnt)
    m.ref = ref
    yield m
    m.unmount()
