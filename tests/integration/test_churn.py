# SPDX-License-Identifier: GPL-2.0-or-later
"""kill -9 in the middle of names changing: four workers create files
(written to a .tmp, renamed over the name), unlink, read and stat them in
four directories through the mount; the daemon is killed at a random
moment and mounted again on the same cache.  Then every name BACKING holds
must be found by lookup (stat, open) and listed, with BACKING's size, and
no name BACKING lacks may be listed: what the cache device kept of a
directory is trusted only as far as a clean stop or a committed change
vouched for it.  Found by this loop: names BACKING held answered ENOENT
after a remount, for up to meta_timeout."""
import errno
import os
import random
import threading
import time

import scfs

ROUNDS = int(os.environ.get("SCFS_CHURN_ROUNDS", "50"))
DIRS = 4
NAMES = 24


def worker(root, seed, alive):
    r = random.Random(seed)
    while alive.is_set():
        name = os.path.join(root, f"n{r.randrange(NAMES)}")
        try:
            act = r.random()
            if act < 0.4:
                tmp = name + ".tmp"
                with open(tmp, "wb") as f:
                    f.write(os.urandom(r.randrange(1, 9000)))
                os.rename(tmp, name)
            elif act < 0.6:
                os.unlink(name)
            elif act < 0.7:
                with open(name, "rb") as f:
                    f.read()
            elif act < 0.85:
                os.listdir(root)
            else:
                os.stat(name)
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTCONN, errno.ECONNABORTED,
                               errno.EIO):
                raise


def check_names(backing, mnt):
    """Every directory through the mount as BACKING has it."""
    bad = []
    for d in range(DIRS):
        sub = f"d{d}"
        real = sorted(os.listdir(os.path.join(backing, sub)))
        seen = sorted(os.listdir(os.path.join(mnt, sub)))
        if seen != real:
            bad.append((sub, "listed", sorted(set(seen) ^ set(real))))
        for n in real:
            path = os.path.join(mnt, sub, n)
            try:
                st = os.stat(path)
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                bad.append((sub, n, errno.errorcode.get(e.errno, e.errno)))
                continue
            want = os.path.getsize(os.path.join(backing, sub, n))
            if st.st_size != want or len(data) != want:
                bad.append((sub, n, "size", st.st_size, len(data), want))
    return bad


def test_kill_9_while_names_change_loses_no_name(dirs):
    base, backing, mnt, _ = dirs
    cache = os.path.join(base, "churn.swc")
    rng = random.Random(28)
    options = ("allow_other", f"cache={cache}", "cache_size=32M", "min_hysteresis=0")
    for d in range(DIRS):
        os.mkdir(os.path.join(backing, f"d{d}"))
    for rnd in range(ROUNDS):
        m = scfs.Mount(backing, mnt, options=options)
        bad = check_names(backing, mnt)
        assert not bad, f"round {rnd}, after the remount: {bad[:8]}"
        alive = threading.Event()
        alive.set()
        errors = []

        def run(d, seed):
            try:
                worker(os.path.join(mnt, f"d{d}"), seed, alive)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        workers = [threading.Thread(target=run, args=(d, rnd * 10 + d))
                   for d in range(DIRS)]
        for t in workers:
            t.start()
        time.sleep(rng.uniform(0.1, 1.2))
        m.kill_9(alive, workers)
        assert not errors, errors[:3]
    m = scfs.Mount(backing, mnt, options=options)
    try:
        assert not check_names(backing, mnt)
    finally:
        m.unmount()
