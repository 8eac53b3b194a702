# SPDX-License-Identifier: GPL-2.0-or-later
"""What every benchmark here shares: emptying the caches between
measurements and publishing the table."""
import os
import statistics
import tempfile
import time


def drop_caches(pause=0.5):
    """Flush and drop every cache, then let writeback settle: otherwise a
    measurement pays for the dirty pages the previous one left."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")
    time.sleep(pause)


def age(root, seconds=60):
    """Set root's files (or root, a file) modified seconds ago: over a
    BACKING without a ctime of its own (sshfs) a file modified in the last
    two seconds is read from it and not cached (swapcachefs(8),
    CONSISTENCY), and data made just before a run would be measured so."""
    then = time.time() - seconds
    paths = [root] if os.path.isfile(root) else [
        os.path.join(d, n) for d, _, names in os.walk(root) for n in names]
    for p in paths:
        os.utime(p, (then, then), follow_symlinks=False)


def random_file(path, size_mib):
    """A file of size_mib MiB of random bytes at path, aged (see age)."""
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    age(path)


def scratch_dirs(prefix, names):
    """A new directory under /var/tmp and the empty directories names in
    it: (base, [paths])."""
    base = tempfile.mkdtemp(prefix=prefix, dir="/var/tmp")
    paths = [os.path.join(base, n) for n in names]
    for p in paths:
        os.mkdir(p)
    return base, paths


def xattr_fields(path, name="user.swapcache.stats"):
    """The "name: value" lines of one of swapcachefs's xattrs, as a dict
    of strings (user.swapcache.stats of a mount by default)."""
    return dict(line.split(": ", 1)
                for line in os.getxattr(path, name).decode().splitlines())


def spread(values, digits):
    """(median, "median (min-max)") of the repetitions of one measurement."""
    m = statistics.median(values)
    return m, f"{m:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def index_mib(cache_mib):
    """The daemon's RAM for the index of a cache device of cache_mib MiB:
    1.1 MiB per GiB when full (store_int.h), and the page checksums of its
    slots (68 bytes a 68 KiB slot, 1 MiB per GiB, up to 16 GiB of slots)."""
    checksummed_mib = min(cache_mib, 262144 * 68 / 1024)  # slots of 68 KiB
    return cache_mib / 1024 * 1.1 + checksummed_mib / 1024


def rss_budget_mib(ram_mib, cache_mib):
    """Issue 7's bound on the daemon's RSS: the RAM pool, the index, 64 MiB."""
    return ram_mib + index_mib(cache_mib) + 64


def publish(lines, path):
    """Print the table and keep a copy at path."""
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")
