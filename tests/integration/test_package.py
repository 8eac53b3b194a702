# SPDX-License-Identifier: GPL-2.0-or-later
"""The Debian package, as an administrator meets it: built from a copy of
this tree with dpkg-buildpackage, lintian clean of errors and warnings,
installed with apt-get, mounted from an fstab line through mount(8) and
mount.fuse3 with the default cache directory, its metrics written by the
installed swapcache-stats and read through a node exporter, its example units checked by systemd-analyze
(the fstab line through systemd's own fstab generator), unmounted with
umount(8), and purged without a trace.  The steps run in order and share
one build; on a machine where a swapcachefs package is already installed
they skip rather than touch it."""
import os
import shutil
import stat
import subprocess
import time

import pytest

import scfs

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = "/usr/share/doc/swapcachefs/examples"
GENERATOR = "/lib/systemd/system-generators/systemd-fstab-generator"


def sh(*args, timeout=120, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kw)
    assert r.returncode == 0, f"{args}: exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def installed():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "swapcachefs"],
                       capture_output=True, text=True)
    return r.returncode == 0 and "ok installed" in r.stdout


@pytest.fixture(scope="module")
def package():
    """The .deb and .changes built from a copy of the working tree."""
    for tool in ("dpkg-buildpackage", "dh", "lintian", "git"):
        if not shutil.which(tool):
            pytest.skip(f"needs {tool}")
    if installed():
        pytest.skip("a swapcachefs package is installed here already")
    base = scfs.make_tempdir("scfs-deb-")
    src = os.path.join(base, "swapcachefs")
    files = sh("git", "-C", REPO, "ls-files", "-z", "-co", "--exclude-standard")
    for f in filter(None, files.split("\0")):
        if os.path.lexists(os.path.join(REPO, f)):
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, f), os.path.join(src, f), follow_symlinks=False)
    sh("dpkg-buildpackage", "-b", "-uc", "-us", cwd=src, timeout=1200)
    debs = [f for f in os.listdir(base) if f.startswith("swapcachefs_") and f.endswith(".deb")]
    changes = [f for f in os.listdir(base) if f.endswith(".changes")]
    assert len(debs) == 1 and len(changes) == 1, os.listdir(base)
    yield os.path.join(base, debs[0]), os.path.join(base, changes[0])
    scfs.rmtree(base)


@pytest.fixture(scope="module")
def install(package):
    deb, _ = package
    sh("apt-get", "install", "-y", "--no-install-recommends", deb, timeout=300,
       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    yield
    if installed():
        subprocess.run(["apt-get", "purge", "-y", "swapcachefs"], capture_output=True,
                       timeout=300)


def test_lintian_finds_no_error_or_warning(package):
    _, changes = package
    r = subprocess.run(["lintian", "--fail-on", "error,warning", changes],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not [line for line in r.stdout.splitlines() if line[:2] in ("E:", "W:")], r.stdout


def test_package_holds_what_an_administrator_needs(package):
    deb, _ = package
    listing = {}
    for line in sh("dpkg-deb", "-c", deb).splitlines():
        mode, owner, _, _, _, path = line.split(None, 5)
        listing[path.removeprefix(".").rstrip("/")] = (mode, owner)
    for path in ("/usr/sbin/swapcachefs", "/usr/bin/swapcache-stats"):
        assert listing[path] == ("-rwxr-xr-x", "root/root"), path
    for path in ("/usr/share/man/man8/swapcachefs.8.gz",
                 "/usr/share/man/man1/swapcache-stats.1.gz",
                 f"{EXAMPLES}/fstab", f"{EXAMPLES}/srv-projects.mount",
                 f"{EXAMPLES}/swapcache-stats-textfile.service",
                 f"{EXAMPLES}/swapcache-stats-textfile.timer"):
        assert path in listing, path
    assert listing["/var/cache/swapcachefs"] == ("drwx------", "root/root")
    depends = sh("dpkg-deb", "-f", deb, "Depends")
    for need in ("fuse3", "python3", "libfuse3-3", "liburing2", "libnvme1"):
        assert need in depends, depends


def test_fstab_line_mounts_through_mount_fuse3(install, dirs):
    """mount(8) of an fstab line runs mount.fuse3, which runs the
    installed daemon with the line's options (_netdev, nofail and
    x-systemd.* are mount's and systemd's, not passed on); the cache
    lands in the default directory; umount(8) ends it."""
    base, backing, mnt, _ = dirs
    os.makedirs(os.path.join(backing, "src"))
    data = {f"src/{i}.c": os.urandom(1000 + 4096 * i) for i in range(8)}
    for name, body in data.items():
        with open(os.path.join(backing, name), "wb") as f:
            f.write(body)
    fstab = os.path.join(base, "fstab")
    with open(fstab, "w") as f:
        f.write(f"{backing} {mnt} fuse.swapcachefs cache_size=32M,allow_other,noatime,"
                f"_netdev,nofail,x-systemd.requires-mounts-for={backing} 0 0\n")
    cache = "/var/cache/swapcachefs/" + sh("systemd-escape", "--path", backing).strip() + ".swc"
    assert not os.path.exists(cache)
    try:
        sh("mount", "-T", fstab, mnt, timeout=60)
        assert os.path.ismount(mnt)
        fstype = [line.split(" - ")[1].split()[0] for line in open("/proc/self/mountinfo")
                  if line.split()[4] == mnt]
        assert fstype == ["fuse.swapcachefs"]
        for name, body in data.items():
            with open(os.path.join(mnt, name), "rb") as f:
                assert f.read() == body, name
        assert sorted(os.listdir(os.path.join(mnt, "src"))) == \
            sorted(os.listdir(os.path.join(backing, "src")))
        # The metrics as the example timer writes them, through a node
        # exporter, read by a Prometheus parser.
        textdir = os.path.join(base, "textfile")
        os.mkdir(textdir)
        sh("swapcache-stats", "--prometheus", "-o", os.path.join(textdir, "sc.prom"), mnt)
        assert os.access(scfs.NODE_EXPORTER, os.X_OK), "needs prometheus-node-exporter"
        from prometheus_client.parser import text_string_to_metric_families
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(scfs.node_exporter_scrape(textdir))
                   for s in f.samples}
        assert samples[("node_textfile_scrape_error", ())] == 0
        mount = (("mount", mnt),)
        assert samples[("swapcachefs_up", mount)] == 1
        assert samples[("swapcachefs_read_backing_bytes_total", mount)] == \
            int(os.getxattr(mnt, "user.swapcache.stats").decode()
                .split("read_bytes_backing: ")[1].split()[0])
        assert samples[("swapcachefs_read_backing_bytes_total", mount)] >= \
            sum(map(len, data.values()))
        st = os.stat(cache)
        assert stat.S_ISREG(st.st_mode) and st.st_mode & 0o777 == 0o600
        assert st.st_size == 32 << 20
        daemon = sh("pgrep", "-f", f"^swapcachefs {backing} {mnt}").split()
        assert len(daemon) == 1
    finally:
        subprocess.run(["umount", mnt], capture_output=True, timeout=60)
    assert not os.path.ismount(mnt)
    wait_for_exit(int(daemon[0]), mnt)
    os.unlink(cache)


def wait_for_exit(pid, mnt):
    """The daemon ends at umount, unless another mount namespace made
    while the test ran still holds a copy of the mount."""
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.1)
    if os.path.exists(f"/proc/{pid}"):
        held = [p for p in os.listdir("/proc") if p.isdigit() and held_by(p, mnt)]
        assert held, f"swapcachefs {pid} did not exit after umount"


def held_by(pid, mnt):
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            return any(line.split()[4] == mnt for line in f)
    except OSError:
        return False


def test_example_units_and_fstab_line_verify(install):
    """The shipped .mount unit and metrics timer pass systemd-analyze
    verify as installed; the shipped fstab line, through systemd's fstab
    generator, orders the mount after the NFS one and before
    remote-fs.target, and verifies too."""
    base = scfs.make_tempdir("scfs-units-")
    try:
        units = ("srv-projects.mount", "swapcache-stats-textfile.service",
                 "swapcache-stats-textfile.timer")
        for u in units:
            shutil.copy(os.path.join(EXAMPLES, u), base)
        sh("systemd-analyze", "verify", *units, cwd=base)
        gen = os.path.join(base, "generated")
        os.mkdir(gen)
        sh(GENERATOR, gen, gen, gen,
           env={**os.environ, "SYSTEMD_FSTAB": os.path.join(EXAMPLES, "fstab"),
                "SYSTEMD_PROC_CMDLINE": ""})
        with open(os.path.join(gen, "srv-projects.mount")) as f:
            unit = f.read()
        assert "RequiresMountsFor=/mnt/nfs/projects" in unit, unit
        assert "Before=remote-fs.target" in unit and "Type=fuse.swapcachefs" in unit, unit
        assert os.path.exists(os.path.join(gen, "remote-fs.target.requires",
                                           "srv-projects.mount"))
        sh("systemd-analyze", "verify", "srv-projects.mount", "mnt-nfs-projects.mount",
           cwd=gen)
    finally:
        scfs.rmtree(base)


def test_purge_leaves_nothing(install):
    os.makedirs("/var/cache/swapcachefs", exist_ok=True)
    with open("/var/cache/swapcachefs/left.swc", "w") as f:
        f.write("a cache file a mount left")
    sh("apt-get", "purge", "-y", "swapcachefs", timeout=300,
       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    assert not installed()
    for path in ("/usr/sbin/swapcachefs", "/usr/bin/swapcache-stats", "/var/cache/swapcachefs",
                 "/usr/share/doc/swapcachefs", "/usr/share/man/man8/swapcachefs.8.gz"):
        assert not os.path.lexists(path), path
