#!/usr/bin/env python3
"""Blocking playlist reload (RFC 8216bis §6.2.5.2) on the release binary: how soon a held
request is answered after the playlist is renamed into place, and what a held request costs.

  wake-up   100 samples: one request `?_HLS_msn=next` held, the next version renamed in (as
            ffmpeg's temp_file flag does), time from just before rename(2) to the whole answer
            read by the client; median, p99, worst.
  crowd     500 requests held on one playlist, one rename, time until the last is answered
            (5 rounds; worst).
  memory    RSS before, with N idle keep-alive connections, then with the same N connections
            each holding a request: (held - idle) / N is the cost of a held request beyond its
            connection (a connection's task is allocated at its largest state, so this is the
            subscription and the stop-signal registration), (held - before) / N the whole cost
            of a connection holding one.

The server is pinned to CPU 0 and this client to CPU 1. Usage: benches/blocking.py [--quick]
(needs `cargo build --release`). No nginx row: nginx has no blocking reload.
"""
import os, select, socket, statistics, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, free_port, machine, wait_port  # noqa: E402

QUICK = "--quick" in sys.argv
HELD_FOR_MEMORY = 1000 if QUICK else 5000


def text(first, nxt):
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for i in range(first, nxt):
        lines += ["#EXTINF:2.000000,", f"seg{i}.ts"]
    return "\n".join(lines) + "\n"


def publish(d, first, nxt):
    tmp = os.path.join(d, "index.m3u8.tmp")
    with open(tmp, "w") as f:
        f.write(text(first, nxt))
    at = time.perf_counter()
    os.rename(tmp, os.path.join(d, "index.m3u8"))
    return at


def metric(admin, name):
    s = socket.create_connection(("127.0.0.1", admin))
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def until_held(admin, n):
    deadline = time.time() + 30
    while metric(admin, "hls_origin_blocking_reload_held") != n:
        if time.time() > deadline:
            raise SystemExit(f"never {n} held")
        time.sleep(0.002)


def read_response(sock):
    """Reads one response (Content-Length framed); returns its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise SystemExit("closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(next(l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split(b" ")[1])


def request(path):
    return f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode()


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    os.sched_setaffinity(0, {1})
    root = tempfile.mkdtemp(prefix="hls-blocking-")
    d = os.path.join(root, "live/b")
    os.makedirs(d)
    publish(d, 0, 3)
    port, admin = free_port(), free_port()
    conf = os.path.join(root, "..", os.path.basename(root) + ".toml")
    with open(conf, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{port}"\nroot = "{root}"\naccess_log = false\n'
                f'[hls]\nblocking_reload = true\n[cache]\nmanifest_validity = "60s"\n'
                f'[admin]\nlisten = "127.0.0.1:{admin}"\n')
    server = subprocess.Popen(["taskset", "-c", "0", BIN, "serve", "--config", conf],
                              stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        wait_port(admin)
        print(f"machine: {machine(root)}; {time.strftime('%Y-%m-%d')}")
        path = "/live/b/index.m3u8"
        nxt = 3
        # Wake-up, one held request at a time, on one keep-alive connection.
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request(path))
        read_response(s)
        delays = []
        for _ in range(100):
            s.sendall(request(f"{path}?_HLS_msn={nxt}"))
            until_held(admin, 1)
            at = publish(d, max(0, nxt - 5), nxt + 1)
            assert read_response(s) == 200
            delays.append((time.perf_counter() - at) * 1000)
            nxt += 1
        delays.sort()
        print("| blocking reload | median | p99 | worst |\n|---|---|---|---|")
        print(f"| wake-up after rename, 100 samples | {statistics.median(delays):.2f} ms | "
              f"{delays[98]:.2f} ms | {delays[-1]:.2f} ms |")
        # Crowd: 500 held on one playlist, one rename.
        lasts = []
        for _ in range(2 if QUICK else 5):
            socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(500)]
            for c in socks:
                c.sendall(request(f"{path}?_HLS_msn={nxt}"))
            until_held(admin, 500)
            at = publish(d, max(0, nxt - 5), nxt + 1)
            pending = {c.fileno(): c for c in socks}
            while pending:
                ready, _, _ = select.select(list(pending.values()), [], [], 10)
                for c in ready:
                    assert read_response(c) == 200
                    del pending[c.fileno()]
            lasts.append((time.perf_counter() - at) * 1000)
            for c in socks:
                c.close()
            nxt += 1
        print(f"| 500 held, last answered after the rename ({len(lasts)} rounds) | "
              f"{statistics.median(lasts):.1f} ms | | {max(lasts):.1f} ms |")
        # Memory: N idle connections, then the same N each holding a request.
        n = HELD_FOR_MEMORY
        base = rss_kb(server.pid)
        conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
        for c in conns:
            c.sendall(request(path))
        for c in conns:
            read_response(c)
        time.sleep(0.5)
        idle = rss_kb(server.pid)
        for c in conns:
            c.sendall(request(f"{path}?_HLS_msn={nxt}"))
        until_held(admin, n)
        time.sleep(0.5)
        held = rss_kb(server.pid)
        print(f"| memory, {n} keep-alive connections (RSS before: {base / 1024:.1f} MiB) | idle {idle / 1024:.1f} MiB "
              f"| holding {held / 1024:.1f} MiB | {(held - idle) * 1024 / n:.0f} B per held request beyond its "
              f"connection; {(held - base) * 1024 / n:.0f} B per connection holding one |")
        publish(d, max(0, nxt - 5), nxt + 1)
        for c in conns:
            read_response(c)
            c.close()
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
