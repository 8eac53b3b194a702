# SPDX-License-Identifier: GPL-2.0-or-later
"""The cache over a real network filesystem: sshfs to an sshd on
127.0.0.1 that the test starts and stops.  Reads reach the SSD and are
served from it after remounting swapcachefs and sshfs (whose inode
numbers change); a change on the server is seen at the next open; writes
go through to the server."""
import os
import shutil
import socket
import subprocess
import time

import pytest

import scfs
from test_cache import drop_caches, make_file, read, stats, wait_written

MIB = 1 << 20

pytestmark = pytest.mark.skipif(
    not (shutil.which("sshfs") and os.path.exists("/usr/sbin/sshd")),
    reason="needs sshfs and openssh-server")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """An sshd on 127.0.0.1 serving SFTP to root with a throwaway key."""

    def __init__(self, base):
        self.dir = os.path.join(base, "sshd")
        os.mkdir(self.dir, 0o700)
        self.port = free_port()
        self.key = os.path.join(self.dir, "user_key")
        host = os.path.join(self.dir, "host_key")
        for k in (self.key, host):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", k],
                           check=True)
        shutil.copy(self.key + ".pub", os.path.join(self.dir, "authorized_keys"))
        config = os.path.join(self.dir, "sshd_config")
        with open(config, "w") as f:
            f.write(f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {host}
AuthorizedKeysFile {self.dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile {self.dir}/sshd.pid
Subsystem sftp internal-sftp
""")
        os.makedirs("/run/sshd", exist_ok=True)
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", config],
                                     stderr=subprocess.DEVNULL)
        scfs.wait_for(self.listening, what="sshd")

    def listening(self):
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def sshfs_mount(sshd, remote, local):
    subprocess.run(["sshfs", f"root@127.0.0.1:{remote}", local,
                    "-p", str(sshd.port),
                    "-o", f"IdentityFile={sshd.key},StrictHostKeyChecking=no,"
                          "UserKnownHostsFile=/dev/null,BatchMode=yes,"
                          "dir_cache=no,attr_timeout=0,entry_timeout=0"],
                   check=True, capture_output=True, timeout=30)
    scfs.wait_for(lambda: os.path.ismount(local), what="sshfs")


def sshfs_unmount(local):
    subprocess.run(["fusermount3", "-u", local], check=True)


@pytest.fixture
def net(dirs):
    base, backing, mnt, _ = dirs
    remote = os.path.join(base, "server")
    os.mkdir(remote)
    sshd = Sshd(base)
    sshfs_mount(sshd, remote, backing)
    yield base, remote, backing, mnt, sshd
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-uz", mnt])
    if os.path.ismount(backing):
        subprocess.run(["fusermount3", "-uz", backing])
    sshd.stop()


def mount(backing, mnt, cache):
    return scfs.Mount(backing, mnt, options=("allow_other", f"cache={cache}",
                                             "cache_size=64M", "min_hysteresis=0"))


def test_sshfs_reads_served_from_ssd_after_remounts(net):
    base, remote, backing, mnt, sshd = net
    cache = os.path.join(base, "c.swc")
    files = {f"f{i}": make_file(os.path.join(remote, f"f{i}"), size, None)
             for i, size in enumerate([3 * MIB, 200000, 5000])}
    total = sum(len(d) for d in files.values())
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        assert stats(mnt)["read_bytes_backing"] >= total
        wait_written(mnt, total)
    finally:
        m.unmount()
    # sshfs itself is remounted too: its inode numbers start over.
    sshfs_unmount(backing)
    sshfs_mount(sshd, remote, backing)
    drop_caches()
    m = mount(backing, mnt, cache)
    try:
        for name, data in files.items():
            assert read(os.path.join(mnt, name)) == data
        st = stats(mnt)
        assert st["read_bytes_ssd"] >= total - 4096 * len(files)
        assert st["read_bytes_backing"] < 4096 * len(files)
    finally:
        m.unmount()


def test_sshfs_change_on_server_seen_at_next_open(net):
    base, remote, backing, mnt, sshd = net
    path = os.path.join(remote, "f")
    old = make_file(path, MIB, 1)
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        assert read(os.path.join(mnt, "f")) == old
        wait_written(mnt, len(old))
        new = make_file(path, MIB, 2)  # same size
        # SFTP carries seconds: make the new mtime a different second.
        os.utime(path, (time.time() + 5, time.time() + 5))
        time.sleep(1.1)
        assert read(os.path.join(mnt, "f")) == new
    finally:
        m.unmount()


def test_sshfs_writes_reach_the_server(net):
    base, remote, backing, mnt, sshd = net
    m = mount(backing, mnt, os.path.join(base, "c.swc"))
    try:
        data = os.urandom(300000)
        with open(os.path.join(mnt, "written"), "wb") as f:
            f.write(data)
        assert read(os.path.join(remote, "written")) == data
        drop_caches()
        assert read(os.path.join(mnt, "written")) == data
    finally:
        m.unmount()
