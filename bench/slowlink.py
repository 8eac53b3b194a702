# SPDX-License-Identifier: GPL-2.0-or-later
"""A slow network link for the benchmarks: an sshd inside a network
namespace of its own, behind a veth pair rate-limited with htb in both
directions, reached through a TCP relay on 127.0.0.1 that delays every
chunk by a fixed time each way (this kernel has no netem).  The host's
own loopback is never touched.  Use it where an scfs.Sshd goes: it has
.port and .key."""
import asyncio
import os
import signal
import subprocess
import threading

import scfs


def run(*args):
    subprocess.run(args, check=True, capture_output=True)


def _unwind(signum, frame):
    raise SystemExit(128 + signum)


class SlowLink:
    def __init__(self, base, rate="100mbit", delay_ms=1.0):
        # A benchmark stopped by SIGTERM (kill, timeout) unwinds, so that
        # its finally blocks take the mounts, sshd and this link down: else
        # the namespace and the veth pair outlive it.
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _unwind)
        tag = os.getpid() % 10000
        self.ns = f"scfs-bench-{tag}"
        self.host_if, self.ns_if = f"scfsb{tag}a", f"scfsb{tag}b"
        net = 200 + tag % 50
        self.host_ip, self.ns_ip = f"10.{net}.77.1", f"10.{net}.77.2"
        self.delay = delay_ms / 1000.0
        self.rate = rate
        run("ip", "netns", "add", self.ns)
        try:
            run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            run("ip", "link", "set", self.ns_if, "netns", self.ns)
            run("ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if)
            run("ip", "link", "set", self.host_if, "up")
            ns = ["ip", "netns", "exec", self.ns]
            run(*ns, "ip", "addr", "add", f"{self.ns_ip}/24", "dev", self.ns_if)
            run(*ns, "ip", "link", "set", self.ns_if, "up")
            run(*ns, "ip", "link", "set", "lo", "up")
            for prefix, dev in (([], self.host_if), (ns, self.ns_if)):
                run(*prefix, "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:",
                    "htb", "default", "1")
                run(*prefix, "tc", "class", "add", "dev", dev, "parent", "1:", "classid",
                    "1:1", "htb", "rate", rate, "ceil", rate)
            self.sshd = scfs.Sshd(base, address=self.ns_ip, netns=self.ns)
            self.key = self.sshd.key
            self.port = scfs.free_port()
            self._start_relay()
        except BaseException:
            self.stop()
            raise

    def describe(self):
        return (f"a {self.rate} link (htb, both ways) with {self.delay * 1000:.1f} ms "
                f"added each way by a relay")

    def _start_relay(self):
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def pump(reader, writer):
            """Copy one direction, each chunk sent delay seconds after it came."""
            queue = asyncio.Queue()

            async def sender():
                while True:
                    due, data = await queue.get()
                    if data is None:
                        break
                    wait = due - self.loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    writer.write(data)
                    await writer.drain()
                writer.close()
            task = asyncio.ensure_future(sender())
            while True:
                data = await reader.read(1 << 16)
                await queue.put((self.loop.time() + self.delay, data or None))
                if not data:
                    break
            await task

        async def handle(client_r, client_w):
            try:
                server_r, server_w = await asyncio.open_connection(self.ns_ip,
                                                                   self.sshd.port)
            except OSError:
                client_w.close()
                return
            try:
                await asyncio.gather(pump(client_r, server_w),
                                     pump(server_r, client_w), return_exceptions=True)
            except asyncio.CancelledError:
                pass  # the link is being taken down

        async def serve():
            self.server = await asyncio.start_server(handle, "127.0.0.1", self.port)
            ready.set()

        def main():
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(serve())
            self.loop.run_forever()
        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        ready.wait(10)

    def stop(self):
        if getattr(self, "loop", None):
            async def shutdown():
                self.server.close()
                tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        if getattr(self, "sshd", None):
            self.sshd.stop()
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
