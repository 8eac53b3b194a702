# SPDX-License-Identifier: GPL-2.0-or-later
"""Real programs through the mount, compared with BACKING itself.

A git repository of a few thousand real files (headers of this machine's
/usr/include) with several commits, branches, tags, a packed history and
dozens of 41-byte refs written in one second, plus a small C project.
git, grep, find, tar and make run through the mount and on the server's
directory, and every file's bytes are compared, over a local backing and
over sshfs (mounted as people mount it, its own caches on, and strictly),
through a cold read, a warm one (drop_caches), a remount of both layers,
changes made on the server behind the mount's back, kill -9 of the daemon,
and a commit and a checkout through the mount.

Over sshfs the numbers of the nodes are new at each mount: a cache that
trusted a number from the last mount served another file's bytes."""
import hashlib
import os
import shutil
import subprocess
import time

import pytest

import scfs
from scfs import Sshd
from test_cache import drop_caches

TREE_FILES = 2000
# While changes are made behind the mount's back, it trusts cached
# metadata this long (s), so that they are seen within the test's wait;
# otherwise it is mounted with the defaults.
META_TIMEOUT = 2
# sshfs mounted as people mount it caches attributes and listings this
# long (its cache_timeout default).
SSHFS_CACHE_S = 20

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c",
       "safe.directory=*", "-c", "core.fsync=none", "-c", "gc.auto=0"]

pytestmark = pytest.mark.skipif(
    not (shutil.which("git") and shutil.which("sshfs") and shutil.which("make")
         and os.path.exists("/usr/sbin/sshd")),
    reason="needs git, make, sshfs and openssh-server")


def run(args, cwd, check=True, env=None):
    r = subprocess.run(args, cwd=cwd, capture_output=True, timeout=600,
                       env=None if env is None else {**os.environ, **env})
    if check and r.returncode != 0:
        raise AssertionError(f"{args} in {cwd}: exit {r.returncode}: "
                             f"{r.stderr.decode(errors='replace')[-2000:]}")
    return r


def git(cwd, *args, check=True, env=None):
    return run(GIT + list(args), cwd, check, env)


C_PROJECT = {
    "Makefile": "OBJS = main.o sum.o fmt.o\n"
                "prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n"
                "%.o: %.c common.h\n\t$(CC) -O1 -c -o $@ $<\n"
                "clean:\n\trm -f prog $(OBJS)\n",
    "common.h": "long sum(int n);\nconst char *fmt(long v);\n",
    "main.c": "#include <stdio.h>\n#include \"common.h\"\n"
              "int main(void) { puts(fmt(sum(1000))); return 0; }\n",
    "sum.c": "#include \"common.h\"\n"
             "long sum(int n) { long s = 0; for (int i = 1; i <= n; i++) s += i; return s; }\n",
    "fmt.c": "#include <stdio.h>\n#include \"common.h\"\n"
             "const char *fmt(long v) { static char b[32]; snprintf(b, sizeof b, \"sum=%ld\", v); return b; }\n",
}


def make_repo(path):
    """The repository: TREE_FILES headers in three commits, branches,
    tags, a packed history, then loose refs of one size in one second."""
    os.mkdir(path)
    git(path, "init", "-q", "-b", "main")
    files = []
    for d, dirs, names in os.walk("/usr/include"):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p) and \
                    os.path.getsize(p) < 256 * 1024:
                files.append(p)
            if len(files) >= TREE_FILES:
                break
        if len(files) >= TREE_FILES:
            break
    for i, p in enumerate(files):
        dst = os.path.join(path, os.path.relpath(p, "/usr/include"))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(p, dst)
        if i == len(files) // 2:
            git(path, "add", "-A")
            git(path, "commit", "-q", "-m", "first half")
    proj = os.path.join(path, "proj")
    os.mkdir(proj)
    for name, text in C_PROJECT.items():
        with open(os.path.join(proj, name), "w") as f:
            f.write(text)
    with open(os.path.join(path, ".gitignore"), "w") as f:
        f.write("*.o\nproj/prog\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "second half")
    git(path, "branch", "side")
    for p in files[:40]:
        with open(os.path.join(path, os.path.relpath(p, "/usr/include")), "a") as f:
            f.write("/* changed on main */\n")
    git(path, "commit", "-q", "-am", "change forty files")
    git(path, "tag", "-a", "-m", "v1", "v1")
    git(path, "checkout", "-q", "side")
    with open(os.path.join(proj, "sum.c"), "a") as f:
        f.write("/* side */\n")
    git(path, "commit", "-q", "-am", "side change")
    git(path, "checkout", "-q", "main")
    git(path, "gc", "-q")
    for i in range(40):  # loose refs, 41 bytes each, in about one second
        git(path, "branch", f"b{i}", "main" if i % 2 else "side")
    return path


def tree_digest(root):
    """{relative path: sha256 of the bytes, or the link target, or 'dir'}."""
    out = {}
    for d, dirs, names in os.walk(root):
        for n in dirs + names:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def outputs(repo, on_server=False):
    """What the programs print of repo: the same through the mount and on
    the server, or the cache is wrong.  On the server git status must not
    refresh the index: that would be a change behind the mount's back,
    which the mount need not see for meta_timeout."""
    out = {}
    quiet = {"GIT_OPTIONAL_LOCKS": "0"} if on_server else None
    out["git log -p"] = git(repo, "log", "-p", "-n", "60", "--all").stdout
    out["git status"] = git(repo, "status", "--porcelain=v1", "-b",
                            env=quiet).stdout
    out["git fsck"] = git(repo, "fsck", "--no-dangling").returncode
    out["git branches"] = git(repo, "for-each-ref").stdout
    out["git show side"] = git(repo, "show", "side:proj/sum.c").stdout
    out["grep -r"] = "\n".join(sorted(run(
        ["grep", "-r", "-c", "define", "."], repo, check=False)
        .stdout.decode().splitlines()))
    out["find"] = "\n".join(sorted(run(
        ["find", ".", "-printf", "%P %y %s %m\n"], repo).stdout.decode()
        .splitlines()))
    out["tar"] = run(["tar", "cf", "-", "--sort=name", "--mtime=@0",
                      "--owner=0", "--group=0", "--numeric-owner",
                      "--exclude=.git", "."], repo).stdout
    return out


def assert_same(mnt_repo, srv_repo, when):
    start = time.monotonic()
    want, got = outputs(srv_repo, on_server=True), outputs(mnt_repo)
    for k in want:
        assert got[k] == want[k], f"{when}: {k} differs through the mount"
    want_t, got_t = tree_digest(srv_repo), tree_digest(mnt_repo)
    wrong = [p for p in want_t if got_t.get(p) != want_t[p]]
    extra = [p for p in got_t if p not in want_t]
    assert not wrong and not extra, \
        f"{when}: {len(wrong)} files differ ({wrong[:5]}), extra {extra[:5]}"
    print(f"{when}: the same ({time.monotonic() - start:.1f} s)")


class Layers:
    """BACKING (a local directory, or sshfs to the server directory) and
    swapcachefs over it, with its cache file kept across remounts."""

    def __init__(self, base, kind):
        self.kind = kind
        self.server = os.path.join(base, "server")
        self.backing = os.path.join(base, "backing")
        self.mnt = os.path.join(base, "mnt")
        self.cache = os.path.join(base, "cache.swc")
        self.sshd = Sshd(base) if kind != "local" else None
        self.m = None
        self.mount()

    def mount_backing(self):
        if self.kind == "local":
            return
        extra = ("reconnect,ServerAliveInterval=15" if self.kind == "sshfs"
                 else "dir_cache=no,attr_timeout=0,entry_timeout=0")
        scfs.sshfs_mount(self.sshd, self.server, self.backing, extra=extra,
                         strict=False)

    def mount(self, options=()):
        self.mount_backing()
        if self.kind != "local":
            # Someone else walks BACKING first, in another order: sshfs
            # numbers its nodes as they are asked for, so the numbers of
            # the last mount now name other files.
            paths = [os.path.join(d, n) for d, ds, ns in os.walk(self.backing)
                     for n in ds + ns]
            for p in reversed(paths):
                os.lstat(p)
        source = self.server if self.kind == "local" else self.backing
        self.m = scfs.Mount(source, self.mnt, options=(
            "allow_other", f"cache={self.cache}", "cache_size=256M",
            "min_hysteresis=0", *options))

    def unmount(self, kill=False):
        if kill:
            self.m.kill_9()
        else:
            self.m.unmount()
        if self.kind != "local":
            scfs.sshfs_unmount(self.backing)

    def remount(self, kill=False, options=()):
        self.unmount(kill)
        drop_caches()
        self.mount(options)

    def settle(self):
        """Wait until a change made on the server is what every layer says."""
        time.sleep(META_TIMEOUT + 1.5 +
                   (SSHFS_CACHE_S if self.kind == "sshfs" else 0))

    def close(self):
        for p in (self.mnt, self.backing):
            if os.path.ismount(p):
                subprocess.run(["fusermount3", "-uz", p], capture_output=True)
        if self.m and self.m.proc.poll() is None:
            self.m.proc.kill()
            self.m.proc.wait()
        if self.sshd:
            self.sshd.stop()


@pytest.fixture(scope="module")
def pristine():
    base = scfs.make_tempdir("scfs-repo-")
    make_repo(os.path.join(base, "repo"))
    yield os.path.join(base, "repo")
    scfs.rmtree(base)


@pytest.fixture(params=["local", "sshfs", "sshfs-strict"])
def layers(request, dirs, pristine):
    base = dirs[0]
    server = os.path.join(base, "server")
    os.mkdir(server)
    run(["cp", "-a", pristine, os.path.join(server, "repo")], base)
    lay = Layers(base, request.param)
    yield lay
    lay.close()


def test_programs_agree_with_backing_through_remounts_crashes_and_changes(layers):
    lay = layers
    srv = os.path.join(lay.server, "repo")
    mnt = os.path.join(lay.mnt, "repo")

    assert_same(mnt, srv, "cold")
    drop_caches()
    assert_same(mnt, srv, "warm (drop_caches)")
    lay.remount()
    assert_same(mnt, srv, "after a remount of both layers")

    # Behind the mount's back: a commit, refs rewritten to other refs of
    # the same size, a branch checked out on the server.
    lay.remount(options=(f"meta_timeout={META_TIMEOUT}",))
    with open(os.path.join(srv, "proj", "fmt.c"), "a") as f:
        f.write("/* server */\n")
    git(srv, "commit", "-q", "-am", "on the server")
    for i in range(0, 40, 3):
        git(srv, "branch", "-f", f"b{i}", "v1" if i % 2 else "main")
    lay.settle()
    assert_same(mnt, srv, "after changes on the server")

    lay.remount(kill=True)
    assert_same(mnt, srv, "after kill -9 and a remount")

    # Through the mount: a build, its program run, a commit, a checkout.
    proj = os.path.join(mnt, "proj")
    run(["make", "-j2", "-s"], proj)
    assert run(["./prog"], proj).stdout == b"sum=500500\n"
    run(["make", "-s", "clean"], proj)
    with open(os.path.join(proj, "main.c"), "a") as f:
        f.write("/* through the mount */\n")
    git(mnt, "commit", "-q", "-am", "through the mount")
    git(mnt, "checkout", "-q", "side")
    assert git(srv, "fsck", "--no-dangling").returncode == 0
    assert_same(mnt, srv, "after a commit and a checkout through the mount")
    lay.remount()
    assert_same(mnt, srv, "after the last remount")


@pytest.mark.parametrize("lazy", ["lazy_open=1", "lazy_open=0"])
def test_programs_stored_on_the_mount_run(dirs, lazy):
    """A program on the mount runs the first time and every time, also one
    just built through it: the kernel's open of a program carries a flag
    of its own (__FMODE_EXEC) that a lazy open once handed to openat2(2),
    which refused the run with EINVAL."""
    _, backing, mnt, _ = dirs
    shutil.copy("/bin/true", os.path.join(backing, "true"))
    proj = os.path.join(backing, "proj")
    os.mkdir(proj)
    for name, text in C_PROJECT.items():
        with open(os.path.join(proj, name), "w") as f:
            f.write(text)
    m = scfs.Mount(backing, mnt, options=("allow_other", lazy))
    try:
        for _ in range(3):
            run([os.path.join(mnt, "true")], mnt)
        run(["make", "-j2", "-s"], os.path.join(mnt, "proj"))
        for _ in range(2):
            assert run(["./prog"], os.path.join(mnt, "proj")).stdout == \
                b"sum=500500\n"
            drop_caches()
    finally:
        m.unmount()
