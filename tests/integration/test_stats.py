# SPDX-License-Identifier: GPL-2.0-or-later
"""swapcache-stats on real mounts: the summary, the Prometheus text format
read by a real parser and by a real node exporter's textfile collector,
JSON, each checked against the user.swapcache.stats xattr read around it;
and what it says about something that is not a mount."""
import importlib.machinery
import importlib.util
import json
import os
import re
import signal
import subprocess
import time

import pytest

import scfs

TOOL = os.path.join(os.path.dirname(__file__), "..", "..", "src", "tools",
                    "swapcache-stats")


def load_tool():
    loader = importlib.machinery.SourceFileLoader("swapcache_stats", TOOL)
    spec = importlib.util.spec_from_loader("swapcache_stats", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def parser():
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        pytest.skip("needs python3-prometheus-client")
    return text_string_to_metric_families


def xattr_stats(mnt):
    out = {}
    for line in os.getxattr(mnt, "user.swapcache.stats").decode().splitlines():
        k, v = line.split(": ", 1)
        out[k] = v
    return out


def tunable_names(mnt):
    return sorted(n[len("user.swapcache."):] for n in os.listxattr(mnt)
                  if n.startswith("user.swapcache.") and n != "user.swapcache.stats")


def run(*args, **kw):
    return subprocess.run([TOOL, *args], capture_output=True, text=True, timeout=60, **kw)


def families(text):
    """{family name: (type, help, [samples])} of a text exposition."""
    return {f.name: (f.type, f.documentation, f.samples) for f in parser()(text)}


def wait_quiet(mnt):
    """Until the scanner has written what it will (two readings a second
    apart agree but for what moves with time alone), so that every stat
    read between two xattr readings lies between them."""
    moving = ("curburst", "wear_rate_bytes_per_s")

    def still():
        a = xattr_stats(mnt)
        time.sleep(1)
        b = xattr_stats(mnt)
        return all(a[k] == b[k] for k in a if k not in moving)
    scfs.wait_for(still, timeout=60, what="the mount to go quiet")


@pytest.fixture
def busy_mount(dirs):
    """A mount that has served a file twice: from BACKING, then (the
    kernel's page cache dropped) from the RAM pool."""
    base, backing, mnt, _ = dirs
    data = os.urandom(300000)
    with open(os.path.join(backing, "f"), "wb") as f:
        f.write(data)
    m = scfs.Mount(backing, mnt, options=("allow_other", f"cache={base}/c.swc",
                                          "cache_size=32M"))
    try:
        for _ in range(2):
            with open(os.path.join(mnt, "f"), "rb") as f:
                assert f.read() == data
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("1")
        wait_quiet(mnt)
        yield m
    finally:
        m.unmount()


def test_summary_for_people(busy_mount, dirs):
    """The summary says where the bytes came from, and says clearly when
    pointed at something that is not a mount."""
    _, backing, mnt, _ = dirs
    r = run(mnt)
    assert r.returncode == 0, r.stderr
    st = xattr_stats(mnt)
    assert int(st["read_bytes_backing"]) == 300000
    assert re.search(r"^served      585\.9 KiB: RAM 293\.0 KiB, SSD 0 B, "
                     r"backing 293\.0 KiB \(hit ratio 50\.0%\)$", r.stdout, re.M), r.stdout
    assert "backing     ok" in r.stdout
    assert "projected lifetime unknown" in r.stdout  # no rating given
    r = run(backing)
    assert r.returncode == 1 and "is it a swapcachefs mount?" in r.stderr, r


def test_summary_every_interval_with_rates(busy_mount, dirs):
    _, _, mnt, _ = dirs
    p = subprocess.Popen([TOOL, "-i", "0.2", mnt], stdout=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while sum(line.startswith("served") for line in lines) < 3:
            assert time.monotonic() < deadline, lines
            lines.append(p.stdout.readline())
        rates = [line for line in lines if line.startswith("last ")]
        assert rates and all(re.search(r"RAM 0(\.0)? B/s", line) for line in rates), lines
    finally:
        p.send_signal(signal.SIGINT)
        p.wait(timeout=10)


def test_bad_arguments_say_so():
    for args, what in ((["-o", "/tmp/x", "/"], "needs --prometheus or --json"),
                       (["-i", "0", "/"], "positive number of seconds"),
                       (["--json", "--prometheus", "/"], "not allowed with"),
                       ([], "MOUNTPOINT")):
        r = run(*args)
        assert r.returncode == 2 and what in r.stderr, (args, r)


def test_prometheus_names_and_values_match_the_xattr(busy_mount, dirs):
    """Every stat the daemon prints is a metric (a new stat missing from
    the tool's table fails here), named by Prometheus's conventions, with
    the mount's label and the value the xattr had around the read."""
    _, _, mnt, _ = dirs
    tool = load_tool()
    before = xattr_stats(mnt)
    r = run("--prometheus", mnt)
    after = xattr_stats(mnt)
    assert r.returncode == 0, r.stderr
    fams = families(r.stdout)
    tunables = tunable_names(mnt)

    printed = set(before) - set(tunables) - set(tool.STATES) - set(tool.INFO)
    assert printed - set(tool.METRICS) == set(), "stats without a metric"
    unprinted = set(tool.METRICS) - set(before) - {"curburst"}
    assert {k for k in unprinted if not k.startswith("nvme_")} == set(), \
        "metrics of stats the daemon no longer prints"

    for name, (kind, help_text, samples) in fams.items():
        assert name.startswith("swapcachefs_") and help_text, name
        assert kind in ("counter", "gauge"), name
        assert re.fullmatch(r"[a-z_]+", name), name
        for s in samples:
            assert s.labels["mount"] == mnt, s
            if kind == "counter":
                assert s.name.endswith("_total"), s
        assert "pct" not in name and "days" not in name, name
    assert fams["swapcachefs_up"][2][0].value == 1

    sample = {s.name: s.value for _, _, samples in fams.values() for s in samples
              if len(s.labels) == 1}
    for key, (name, kind, _, factor) in tool.METRICS.items():
        if key not in before or before[key] == "unknown":
            assert "swapcachefs_" + name not in sample, name
            continue
        lo, hi = sorted((float(before[key]) * factor, float(after[key]) * factor))
        if key == "curburst":
            lo, hi = 0, max(hi, float(before["maxburst"]), 2**32)
        assert lo - 1e-9 <= sample["swapcachefs_" + name] <= hi + 1e-9, (key, name)
    # Spot checks that do not go through the tool's table.
    assert sample["swapcachefs_read_backing_bytes_total"] == 300000
    assert sample["swapcachefs_read_ram_bytes_total"] == 300000
    assert sample["swapcachefs_hit_ratio"] == 0.5
    assert sample["swapcachefs_ssd_device_bytes"] == 32 << 20

    for key, (family, label, _, values) in tool.STATES.items():
        samples = fams["swapcachefs_" + family][2]
        assert sorted(s.labels[label] for s in samples) == sorted(values)
        assert [s.labels[label] for s in samples if s.value == 1] == [before[key]], key
    assert "swapcachefs_nvme_info" not in fams  # a cache file

    got = {s.labels["tunable"]: s.value for s in fams["swapcachefs_tunable"][2]}
    assert sorted(got) == [t for t in tunables if t != "curburst"]
    for t, v in got.items():
        assert v == int(os.getxattr(mnt, "user.swapcache." + t)), t


def test_json_holds_the_xattr(busy_mount, dirs):
    _, _, mnt, _ = dirs
    before = xattr_stats(mnt)
    r = run("--json", mnt + "/")
    after = xattr_stats(mnt)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert list(doc) == [mnt]
    got = doc[mnt]
    assert set(got) == set(before)
    for k, v in got.items():
        if isinstance(v, str):
            assert v == before[k] == after[k], k
        else:
            lo, hi = sorted((float(before[k]), float(after[k])))
            assert lo <= v <= hi, k
    assert got["read_bytes_backing"] == 300000 and got["ssd_state"] == "ok"


def test_odd_mount_paths_are_escaped_in_labels(dirs):
    base, backing, _, _ = dirs
    mnt = os.path.join(base, 'a "quoted\\ mount')
    os.mkdir(mnt)
    m = scfs.Mount(backing, mnt, options=(f"cache={base}/c.swc", "cache_size=32M"))
    try:
        r = run("--prometheus", mnt)
        assert r.returncode == 0, r.stderr
        assert '\\"quoted\\\\ mount' in r.stdout
        up = families(r.stdout)["swapcachefs_up"][2]
        assert [(s.labels["mount"], s.value) for s in up] == [(mnt, 1)]
    finally:
        m.unmount()


def test_node_exporter_textfile_collector_reads_it(busy_mount, dirs):
    """A real node exporter serves what -o wrote, without a scrape error;
    a path that is no mount is swapcachefs_up 0, exit status 1, and the
    file is still written whole."""
    if not os.access(scfs.NODE_EXPORTER, os.X_OK):
        pytest.skip("needs prometheus-node-exporter")
    base, backing, mnt, _ = dirs
    textdir = os.path.join(base, "textfile")
    os.mkdir(textdir)
    out = os.path.join(textdir, "swapcachefs.prom")
    r = run("--prometheus", "-o", out, mnt, backing)
    assert r.returncode == 1 and f"{backing}: " in r.stderr, r
    assert r.stdout == ""
    assert os.listdir(textdir) == ["swapcachefs.prom"]  # no temporary left
    assert os.stat(out).st_mode & 0o777 == 0o644

    fams = families(scfs.node_exporter_scrape(textdir))
    errors = fams["node_textfile_scrape_error"][2]
    assert [s.value for s in errors] == [0]
    up = {s.labels["mount"]: s.value for s in fams["swapcachefs_up"][2]}
    assert up == {mnt: 1, backing: 0}
    read = fams["swapcachefs_read_backing_bytes"]
    assert read[0] == "counter"
    assert [s.value for s in read[2] if s.name.endswith("_total")] == [300000]



def test_ratios_print_as_the_daemon_says_them():
    """41.7% is 0.417, not 0.41700000000000004; days are whole seconds."""
    tool = load_tool()
    ex = tool.Exposition()
    tool.add_mount(ex, "/m", {"hit_ratio_pct": 41.7, "projected_lifetime_days": 3,
                              "nvme_percent_used": 7}, [])
    text = ex.text()
    assert 'swapcachefs_hit_ratio{mount="/m"} 0.417\n' in text, text
    assert 'swapcachefs_projected_lifetime_seconds{mount="/m"} 259200\n' in text, text
    assert 'swapcachefs_nvme_used_ratio{mount="/m"} 0.07\n' in text, text


def test_the_drive_is_named_in_words(monkeypatch):
    """An NVMe serial of digits stays a string (JSON, the info labels)."""
    tool = load_tool()
    text = b"nvme: 980 PRO\nnvme_serial: 12345\nnvme_firmware: 5B2QGXA7\nread_bytes_ram: 7\n"
    monkeypatch.setattr(tool.os, "getxattr", lambda path, name: text)
    monkeypatch.setattr(tool.os, "listxattr", lambda path: [])
    stats, _ = tool.read_stats("/m")
    assert stats == {"nvme": "980 PRO", "nvme_serial": "12345",
                     "nvme_firmware": "5B2QGXA7", "read_bytes_ram": 7}
    ex = tool.Exposition()
    tool.add_mount(ex, "/m", stats, [])
    assert ('swapcachefs_nvme_info{mount="/m",model="980 PRO",serial="12345",'
            'firmware="5B2QGXA7"} 1\n') in ex.text()
