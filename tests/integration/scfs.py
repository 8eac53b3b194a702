# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers shared by the integration tests: mounting swapcachefs for real,
running a function as another user, and comparing outcomes between the
mount and a plain reference directory (differential testing)."""

import ctypes
import ctypes.util
import errno
import mmap
import os
import pickle
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.request

BINARY = os.environ.get("SWAPCACHEFS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "src", "daemon", "swapcachefs")

NOBODY = 65534
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def can_mount():
    return os.geteuid() == 0 and os.path.exists("/dev/fuse")


def make_tempdir(prefix):
    """A directory every user can traverse (pytest's tmp_path is 0700)."""
    path = tempfile.mkdtemp(prefix=prefix, dir=os.environ.get("SCFS_TMP", "/tmp"))
    os.chmod(path, 0o755)
    return path


def wait_for(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise TimeoutError(f"timed out waiting for {what}")


class Mount:
    """swapcachefs running in the foreground over backing at mountpoint."""

    def __init__(self, backing, mountpoint, options=("allow_other",), extra_args=(),
                 default_cache=False):
        self.backing = backing
        self.mountpoint = mountpoint
        options = list(options)
        self.cache = None
        if default_cache:
            pass
        elif not any(o.startswith("cache=") for o in options):
            # A small cache beside the mount point, never the default place.
            self.cache = mountpoint.rstrip("/") + ".swc"
            options += [f"cache={self.cache}", "cache_size=32M"]
        else:
            self.cache = next(o[6:] for o in options if o.startswith("cache="))
        args = [BINARY, "-f"]
        if options:
            args += ["-o", ",".join(options)]
        args += list(extra_args) + [backing, mountpoint]
        self.stderr_path = mountpoint.rstrip("/") + ".stderr"
        self._stderr = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(args, stderr=self._stderr, stdout=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.ismount(mountpoint) or self.proc.poll() is not None,
                     what="the mount")
        except TimeoutError:
            self.proc.kill()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError(f"swapcachefs exited {self.proc.returncode}: {self.log()}")

    def log(self):
        if not self._stderr.closed:
            self._stderr.flush()
        with open(self.stderr_path) as f:
            return f.read()

    def unmount(self, check=True):
        """Unmount, wait for the daemon and check it ended cleanly."""
        if self.proc.poll() is None:
            for _ in range(50):
                r = subprocess.run(["fusermount3", "-u", self.mountpoint],
                                   capture_output=True)
                if r.returncode == 0 or not os.path.ismount(self.mountpoint):
                    break
                time.sleep(0.1)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Where it is stuck, for the report (gdb is in the CI deps).
                stacks = subprocess.run(
                    ["gdb", "-batch", "-p", str(self.proc.pid), "-ex",
                     "thread apply all bt"], capture_output=True, text=True,
                    timeout=60).stdout if shutil.which("gdb") else ""
                print(stacks[-20000:])
                still = os.path.ismount(self.mountpoint)
                self.proc.kill()
                self.proc.wait()
                subprocess.run(["fusermount3", "-uz", self.mountpoint], capture_output=True)
                raise AssertionError(
                    "daemon did not exit after unmount" +
                    (f" (still mounted: fusermount3 said {r.stderr.decode().strip()!r})"
                     if still else ""))
        log = self.log()
        self._stderr.close()
        if check:
            assert self.proc.returncode == 0, f"daemon exit {self.proc.returncode}: {log}"
            for bad in ("runtime error", "AddressSanitizer", "LeakSanitizer",
                        "ThreadSanitizer"):
                assert bad not in log, log
        return log

    def pid(self):
        return self.proc.pid

    def kill_9(self, alive=None, threads=()):
        """SIGKILL the daemon while threads work through the mount, then
        stop them (clearing the event alive) and take the dead mount away."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        if alive is not None:
            alive.clear()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive(), "a thread hung after the daemon died"
        self.unmount(check=False)
        subprocess.run(["fusermount3", "-uz", self.mountpoint], capture_output=True)
        wait_for(lambda: not os.path.ismount(self.mountpoint),
                 what="the dead mount to go")


def outcome(fn, *args):
    """('ok', value) or ('err', errno name) of fn(*args)."""
    try:
        return ("ok", fn(*args))
    except OSError as e:
        return ("err", errno.errorcode.get(e.errno, e.errno))


def as_user(uid, gid, fn, *args, groups=()):
    """Run fn(*args) in a child process with the given identity and return
    outcome(fn, *args) from there."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(r)
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            result = outcome(fn, *args)
            data = pickle.dumps(result)
        except BaseException as e:  # report, never return into pytest
            data = pickle.dumps(("crash", repr(e)))
            code = 1
        os.write(w, data)
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    os.waitpid(pid, 0)
    result = pickle.loads(b"".join(chunks))
    assert result[0] != "crash", result
    return result


def errno_error():
    """The OSError of the libc call through ctypes that just failed."""
    e = ctypes.get_errno()
    return OSError(e, os.strerror(e))


def renameat2(olddir, oldname, newdir, newname, flags):
    fn = libc.renameat2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    dfd = os.open(olddir, os.O_PATH)
    nfd = os.open(newdir, os.O_PATH)
    try:
        if fn(dfd, oldname.encode(), nfd, newname.encode(), flags) != 0:
            raise errno_error()
    finally:
        os.close(dfd)
        os.close(nfd)


RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
FALLOC_FL_ZERO_RANGE = 0x10
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2


def fallocate(fd, mode, offset, length):
    fn = libc.fallocate
    fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    if fn(fd, mode, offset, length) != 0:
        raise errno_error()


def resident_pages(fd, size):
    """How many pages of the open file fd the kernel's page cache holds,
    by mincore() over a shared mapping of it (mapping faults nothing in)."""
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                          ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    addr = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    if addr in (None, ctypes.c_void_p(-1).value):
        raise errno_error()
    try:
        vec = ctypes.create_string_buffer(pages)
        if libc.mincore(addr, size, vec) != 0:
            raise errno_error()
        return sum(b & 1 for b in vec.raw)
    finally:
        libc.munmap(addr, size)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def utimensat(path, atime, mtime, follow=True):
    """atime/mtime: (sec, nsec) or UTIME_NOW / UTIME_OMIT."""
    def ts(v):
        return Timespec(0, v) if isinstance(v, int) else Timespec(*v)
    times = (Timespec * 2)(ts(atime), ts(mtime))
    fn = libc.utimensat
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_int]
    flags = 0 if follow else 0x100  # AT_SYMLINK_NOFOLLOW
    if fn(-100, path.encode(), times, flags) != 0:
        raise errno_error()


def tree_state(root):
    """Everything a user can observe of a tree, minus inode numbers and
    times (the two trees are written moments apart; the tests that set
    times check them directly): compared between backing and reference."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            entry = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid,
                     "nlink": st.st_nlink if not stat.S_ISDIR(st.st_mode) else None}
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    entry["data"] = f.read()
            elif stat.S_ISLNK(st.st_mode):
                entry["target"] = os.readlink(p)
            if not stat.S_ISLNK(st.st_mode):
                entry["xattrs"] = {k: os.getxattr(p, k, follow_symlinks=False)
                                   for k in sorted(os.listxattr(p, follow_symlinks=False))
                                   if k.startswith("user.")}
            state[rel] = entry
    return state


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)


# ---- a real network filesystem: sshfs to an sshd on 127.0.0.1 ----

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sshd:
    """An sshd on 127.0.0.1 serving SFTP to root with a throwaway key
    (or on another address, inside the network namespace netns)."""

    def __init__(self, base, address="127.0.0.1", netns=None):
        self.dir = os.path.join(base, "sshd")
        os.mkdir(self.dir, 0o700)
        self.address = address
        self.netns = netns
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
ListenAddress {address}
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
        self.config = config
        self.start()

    def start(self):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.proc = subprocess.Popen(prefix + ["/usr/sbin/sshd", "-D", "-e", "-f",
                                               self.config],
                                     stderr=subprocess.DEVNULL)
        wait_for(self.listening, what="sshd")

    def listening(self):
        with socket.socket() as s:
            return s.connect_ex((self.address, self.port)) == 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def sshfs_mount(sshd, remote, local, extra="", strict=True):
    """sshfs strictly (no caches of its own), plus the options in extra
    (",opt,..."); or, strict=False, with extra alone ("opt,...")."""
    options = ("dir_cache=no,attr_timeout=0,entry_timeout=0" + extra
               if strict else extra)
    subprocess.run(["sshfs", f"root@127.0.0.1:{remote}", local,
                    "-p", str(sshd.port),
                    "-o", f"IdentityFile={sshd.key},StrictHostKeyChecking=no,"
                          "UserKnownHostsFile=/dev/null,BatchMode=yes," + options],
                   check=True, capture_output=True, timeout=30)
    wait_for(lambda: os.path.ismount(local), what="sshfs")


def sshfs_unmount(local):
    subprocess.run(["fusermount3", "-u", local], check=True)


# ---- monitoring: a real Prometheus node exporter ----

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"


def node_exporter_scrape(textdir):
    """What a node exporter on 127.0.0.1 serves with its textfile
    collector reading textdir (and no other collector), scraped once."""
    port = free_port()
    exporter = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
         "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={textdir}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def scrape():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                        timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return None
    try:
        wait_for(lambda: scrape() is not None or exporter.poll() is not None,
                 timeout=30, what="the node exporter")
        text = scrape()
        assert text is not None, f"the node exporter exited {exporter.poll()}"
        return text
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)
