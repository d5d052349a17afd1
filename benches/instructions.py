#!/usr/bin/env python3
"""User-space instructions per cached playlist request, counted by valgrind's callgrind: a
figure that does not drift with the machine's speed (wall-clock CPU per request moves by ±10%
within minutes on a shared VM), for deciding whether a change to the hit path is worth keeping.

Each binary serves a one-playlist tree on one CPU (`taskset -c 0`, so the single-threaded
runtime, as in benches/harness.py) under callgrind twice: once answering FEW requests and once
MANY, over 16 keep-alive connections that each send one request and read one answer per turn.
(total(MANY) - total(FEW)) / (MANY - FEW) removes start-up and shutdown, leaving the cost of a
request. Kernel time is not counted: callgrind sees user space only.

Usage: python3 benches/instructions.py [BIN ...]   (default: target/release/hls-origin)
Needs valgrind (apt-get install valgrind).
"""
import os, re, socket, subprocess, sys, tempfile, time

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FEW, MANY, CONNS = 8_000, 24_000, 16
PLAYLIST = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n" + "".join(
    f"#EXTINF:4.0,\nseg{i}.ts\n" for i in range(1, 9)
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(port, n):
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(CONNS)]
    req = f"GET /live/index.m3u8 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    end = b"seg8.ts\n"
    bufs = [b""] * CONNS
    for _ in range(n // CONNS):
        for c in conns:
            c.sendall(req)
        for k, c in enumerate(conns):
            while end not in bufs[k]:
                data = c.recv(65536)
                if not data:
                    raise SystemExit("server closed a connection")
                bufs[k] += data
            bufs[k] = bufs[k][bufs[k].index(end) + len(end) :]
    for c in conns:
        c.close()


def total(binary, n, work):
    port = free_port()
    conf = os.path.join(work, f"{port}.toml")
    with open(conf, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{port}"\nroot = "{work}/root"\naccess_log = false\n')
    out = os.path.join(work, f"callgrind.{port}")
    server = subprocess.Popen(
        ["taskset", "-c", "0", "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", binary, "serve", "--config", conf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client(port, n)
    finally:
        server.terminate()
        server.wait(timeout=120)
    text = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
    return int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))


def main():
    binaries = sys.argv[1:] or [os.path.join(ROOT_DIR, "target/release/hls-origin")]
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "root/live"))
        with open(os.path.join(work, "root/live/index.m3u8"), "w") as f:
            f.write(PLAYLIST)
        print(f"user-space instructions per cached playlist request ({len(PLAYLIST)} B, {CONNS} keep-alive connections)")
        for binary in binaries:
            few, many = total(binary, FEW, work), total(binary, MANY, work)
            print(f"  {binary}: {(many - few) / (MANY - FEW):,.0f}")


if __name__ == "__main__":
    main()
