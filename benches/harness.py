#!/usr/bin/env python3
"""Side-by-side benchmark: hls-origin against nginx (tuned reference config, and the same with
`sendfile off`), on one generated tree, one run, as ratios.

Workloads (wrk -t1 -c64, pinned to CPU 1; servers pinned to CPU 0, one worker each):
  playlists       200 live playlists of ~600 B, keep-alive
  playlists-230B  200 playlists of 232 B (ffmpeg's default: 5 segments of 2 s)
  segments        20 distinct 1.3 MB segments, hot
hls-origin runs with its default native HTTP/1 driver and, as a second row, with hyper.
plus, for playlists only, "tokio-floor" (benches/tokio_floor.rs): a Tokio server that writes one
fixed response of the same size per request — the runtime + kernel floor, no HTTP work at all,
while a live writer renames 10 playlists every 200 ms. Every server stays up; each of ROUNDS
rounds gives each server one run in turn. Each figure is the median; "paired" ratios are the
median of per-round ratios (runs seconds apart, so they cancel this machine kind's drift). CPU comes from /proc/PID/stat (utime+stime of every server process), RSS
from /proc/PID/status. Then:
  freshness  benches/freshness.rs (100 streams renamed every 200 ms, polled every 5 ms) against
             hls-origin, nginx uncached (open_file_cache off) and nginx cached (valid 1s)
  memory     2 GB of distinct 1.3 MB segments through a 256 MiB budget: peak RSS of hls-origin
  cold       4.2 GB of distinct 1.3 MB segments, 256 MiB budget, spread evenly: (a) hyper reading
             misses into RAM, (b) the native driver with sendfile, (c) nginx with sendfile
Options: --quick: one round, shorter runs; --rounds=N: N rounds; --duration=S: seconds per run;
--only-cold: just the cold workload; --only-throughput: just the playlist and segment tables;
--only-playlists: just the playlist tables; --compare=PATH: another hls-origin binary as an
extra playlist row, measured in the same rounds; --tmpfs: the playlist and segment tables again
with the tree on a tmpfs mounted huge=within_size, the recommended deployment.
"""
import json, os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, threading, time

QUICK = "--quick" in sys.argv
ROUNDS = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--rounds=")), 1 if QUICK else 5)
DURATION = next((int(a.split("=", 1)[1]) for a in sys.argv if a.startswith("--duration=")), 4 if QUICK else 10)
ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT_DIR, "target/release/hls-origin")
COMPARE = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--compare=")), None)
FRESHNESS = None  # found after the build
FLOOR = None  # likewise
CLK_TCK = os.sysconf("SC_CLK_TCK")
SEG_BYTES = 1_300_000

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity 1;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile {sendfile};
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    {open_file_cache}
    types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; video/iso.segment m4s; video/mp4 mp4; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location ~ \\.m3u8$ {{ add_header Cache-Control "public, max-age=1"; add_header Access-Control-Allow-Origin *; }}
        location ~ \\.(ts|m4s|mp4)$ {{ add_header Cache-Control "public, max-age=86400"; add_header Access-Control-Allow-Origin *; }}
    }}
}}
"""
CACHED = "open_file_cache max=10000 inactive=60s; open_file_cache_valid 1s; open_file_cache_errors on;"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} not listening")


class Server:
    def __init__(self, name, root, work):
        self.name, self.root, self.work, self.port = name, root, work, free_port()

    def pids(self):
        pids = [self.proc.pid]
        try:
            out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout
            pids += [int(p) for p in out.split()]
        except FileNotFoundError:
            pass
        return pids

    def cpu_seconds(self):
        total = 0
        for pid in self.pids():
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        return total / CLK_TCK

    def rss_mb(self):
        total = 0
        for pid in self.pids():
            with open(f"/proc/{pid}/status") as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return total / 1024

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Nginx(Server):
    def __init__(self, name, root, work, sendfile=True, cache=True):
        super().__init__(name, root, work)
        prefix = os.path.join(work, name)
        os.makedirs(prefix, exist_ok=True)
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(prefix=prefix, port=self.port, root=root,
                                      sendfile="on" if sendfile else "off",
                                      open_file_cache=CACHED if cache else "open_file_cache off;"))
        self.proc = subprocess.Popen(["taskset", "-c", "0", "nginx", "-c", conf, "-p", prefix],
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)


class Origin(Server):
    def __init__(self, name, root, work, budget="256MiB", driver="native", zero_copy=True, promote=True, binary=None):
        super().__init__(name, root, work)
        conf = os.path.join(work, f"{name}.toml")
        with open(conf, "w") as f:
            f.write(f'[server]\nlisten = "127.0.0.1:{self.port}"\nroot = "{root}"\naccess_log = false\n'
                    f'http1_driver = "{driver}"\nzero_copy = {str(zero_copy).lower()}\n'
                    f'[cache]\nmemory_budget = "{budget}"\npromote_large = {str(promote).lower()}\n')
        self.proc = subprocess.Popen(["taskset", "-c", "0", binary or BIN, "serve", "--config", conf],
                                     stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
        wait_port(self.port)


class Floor(Server):
    def __init__(self, name, root, work):
        super().__init__(name, root, work)
        self.proc = subprocess.Popen(["taskset", "-c", "0", FLOOR, "--addr", f"127.0.0.1:{self.port}"],
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)


def machine(path):
    """Cores, CPU model, kernel and the filesystem under `path`: decisions measured on one
    machine kind may not hold on the next, so every table says which it came from."""
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    fs = subprocess.run(["df", "--output=fstype", path], capture_output=True, text=True).stdout.split()[-1:]
    return f"{os.cpu_count()} cores ({model}), kernel {os.uname().release}, {fs[0] if fs else '?'} under the tree"


def make_tree(root):
    for i in range(200):
        d = os.path.join(root, f"pl/s{i}")
        os.makedirs(d)
        with open(os.path.join(d, "index.m3u8"), "w") as f:
            f.write(playlist(1000 + i, 15))  # ~600 B
        d = os.path.join(root, f"small/s{i}")
        os.makedirs(d)
        with open(os.path.join(d, "index.m3u8"), "w") as f:
            f.write(small_playlist(1000 + i))  # ~230 B
    os.makedirs(os.path.join(root, "seg"))
    for i in range(20):
        with open(os.path.join(root, f"seg/s{i}.ts"), "wb") as f:
            f.write(os.urandom(SEG_BYTES))
    for i in range(10):
        os.makedirs(os.path.join(root, f"live/w{i}"))


def playlist(seq, n):
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:6", f"#EXT-X-MEDIA-SEQUENCE:{seq}"]
    for k in range(n):
        lines += ["#EXTINF:6.006,", f"segment_{seq + k:08d}.ts"]
    return "\n".join(lines) + "\n"


def small_playlist(seq):
    """What ffmpeg's hls muxer writes by default (5 segments of 2 s): 232 bytes."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", f"#EXT-X-MEDIA-SEQUENCE:{seq}"]
    for k in range(5):
        lines += ["#EXTINF:2.000000,", f"index{seq + k}.ts"]
    return "\n".join(lines) + "\n"


def live_writer(root, stop):
    seq = 0
    while not stop.is_set():
        for i in range(10):
            d = os.path.join(root, f"live/w{i}")
            with open(os.path.join(d, "index.m3u8.tmp"), "w") as f:
                f.write(playlist(seq, 6))
            os.rename(os.path.join(d, "index.m3u8.tmp"), os.path.join(d, "index.m3u8"))
        seq += 1
        stop.wait(0.2)


def wrk_script(work, name, paths):
    path = os.path.join(work, f"{name}.lua")
    with open(path, "w") as f:
        f.write("paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n")
        f.write("i = 0\nrequest = function()\n  i = i % #paths + 1\n"
                "  return wrk.format('GET', paths[i])\nend\n"
                "done = function(s, l, r)\n  io.write(string.format('RESULT %d %d %d %d\\n', "
                "s.requests, s.bytes, s.duration, s.errors.status + s.errors.read + s.errors.connect))\nend\n")
    return path


def run_wrk(server, script, duration=DURATION, connections=64):
    cpu0 = server.cpu_seconds()
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script,
                          f"http://127.0.0.1:{server.port}"], capture_output=True, text=True).stdout
    cpu = server.cpu_seconds() - cpu0
    reqs, nbytes, micros, errors = map(int, re.search(r"RESULT (\d+) (\d+) (\d+) (\d+)", out).groups())
    secs = micros / 1e6
    return {"rps": reqs / secs, "gbps": nbytes / secs / 1e9, "cpu_us_per_req": cpu / reqs * 1e6,
            "cpu_s_per_gb": cpu / (nbytes / 1e9), "errors": errors, "rss_mb": server.rss_mb()}


def run_wrk_sampling_rss(server, script, duration, connections):
    """run_wrk, also sampling the server's RSS every 50 ms: adds rss_start and rss_peak."""
    start = server.rss_mb()
    peak = [start]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], server.rss_mb())
            time.sleep(0.05)
    t = threading.Thread(target=sample)
    t.start()
    try:
        r = run_wrk(server, script, duration=duration, connections=connections)
    finally:
        stop.set()
        t.join()
    r["rss_start"], r["rss_peak"] = start, peak[0]
    return r


def median(results, key):
    return statistics.median(r[key] for r in results)


def throughput(root, work):
    """Every server is started once and stays up; then, per workload, ROUNDS rounds in which each
    server gets one DURATION run in turn (the order reversed every other round). This machine
    kind's speed drifts over minutes (other guests on the host), so CPU ratios are also taken per
    round between runs seconds apart, and their median reported ("paired")."""
    paths = {"playlists": [f"/pl/s{i}/index.m3u8" for i in range(200)],
             "playlists-230B": [f"/small/s{i}/index.m3u8" for i in range(200)],
             "segments": [f"/seg/s{i}.ts" for i in range(20)]}
    if "--only-playlists" in sys.argv:
        del paths["segments"]
    scripts = {w: wrk_script(work, w, p) for w, p in paths.items()}
    makers = [("nginx", lambda: Nginx("nginx", root, work)),
              ("nginx-sendfile-off", lambda: Nginx("nginx-sendfile-off", root, work, sendfile=False)),
              ("hls-origin", lambda: Origin("hls-origin", root, work)),
              ("hls-origin-hyper", lambda: Origin("hls-origin-hyper", root, work, driver="hyper", zero_copy=False)),
              # the two answers to "RAM copy or sendfile" for hot large files: the default row
              # promotes them into RAM, this one keeps them on sendfile
              ("hls-origin-sendfile", lambda: Origin("hls-origin-sendfile", root, work, promote=False)),
              ("tokio-floor", lambda: Floor("tokio-floor", root, work))]
    only = {"tokio-floor": ("playlists",), "hls-origin-sendfile": ("segments",)}
    if COMPARE:
        # another build of hls-origin (say, the last commit's) on the playlist workloads
        makers.insert(3, ("hls-origin-compare", lambda: Origin("hls-origin-compare", root, work, binary=COMPARE)))
        only["hls-origin-compare"] = ("playlists", "playlists-230B")
    results = {w: {name: [] for name, _ in makers if w in only.get(name, (w,))} for w in paths}
    servers = {}
    try:
        for name, make in makers:
            servers[name] = make()
        for w, script in scripts.items():
            names = list(results[w])
            for name in names:
                run_wrk(servers[name], script, duration=2, connections=64)  # warm-up
            for rnd in range(ROUNDS):
                for name in (names if rnd % 2 == 0 else names[::-1]):
                    results[w][name].append(run_wrk(servers[name], script))
                print(f"  {w}: round {rnd + 1}/{ROUNDS} done", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    return results


def print_table(results):
    for w, by_server in results.items():
        key = "rps" if w.startswith("playlists") else "gbps"
        cpu_key = "cpu_us_per_req" if w.startswith("playlists") else "cpu_s_per_gb"
        med = {s: {k: median(r, k) for k in r[0]} for s, r in by_server.items()}
        nginxes = [s for s in med if s.startswith("nginx")]
        # (tokio-floor is a reference row, never "the best nginx")
        # CPU ratios are against the nginx with the lowest CPU for the workload.
        cheapest = min(nginxes, key=lambda s: med[s][cpu_key])
        best = max(nginxes, key=lambda s: med[s][key])

        def paired(s, k, ref):
            return statistics.median(a[k] / b[k] for a, b in zip(by_server[s], by_server[ref]))
        print(f"\n{w} (median of {ROUNDS}; throughput vs best nginx = {best}, CPU vs cheapest nginx = {cheapest};"
              f" paired = median of per-round ratios)")
        print(f"{'server':<20}{'req/s':>10}{'GB/s':>8}{'CPU us/req':>12}{'CPU s/GB':>10}{'RSS MB':>8}"
              f"{'thr ratio':>10}{'CPU ratio':>10}{'paired thr':>11}{'paired CPU':>11}{'errors':>8}")
        for s, m in med.items():
            print(f"{s:<20}{m['rps']:>10.0f}{m['gbps']:>8.3f}{m['cpu_us_per_req']:>12.2f}{m['cpu_s_per_gb']:>10.3f}"
                  f"{m['rss_mb']:>8.1f}{m[key] / med[best][key]:>10.2f}{m[cpu_key] / med[cheapest][cpu_key]:>10.2f}"
                  f"{paired(s, key, best):>11.2f}{paired(s, cpu_key, cheapest):>11.2f}{m['errors']:>8.0f}")


def freshness(root, work):
    rows = []
    for name, make in [("hls-origin", lambda: Origin("hls-origin", root, work)),
                       ("nginx-uncached", lambda: Nginx("nginx-uncached", root, work, cache=False)),
                       ("nginx-cached-1s", lambda: Nginx("nginx-cached-1s", root, work))]:
        server = make()
        try:
            out = subprocess.run([FRESHNESS, "--addr", f"127.0.0.1:{server.port}", "--root", root,
                                  "--streams", "100", "--secs", str(DURATION), "--label", name],
                                 capture_output=True, text=True, check=True).stdout
            rows.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            server.stop()
        shutil.rmtree(os.path.join(root, "fresh"), ignore_errors=True)
    print("\nfreshness: 100 playlists renamed every 200 ms, each polled every 5 ms")
    print(f"{'server':<20}{'answers':>9}{'stale':>8}{'max ms':>9}{'mean ms':>9}{'p99 ms':>8}")
    for r in rows:
        print(f"{r['label']:<20}{r['answers']:>9}{r['stale_answers']:>8}{r['max_ms']:>9.2f}{r['mean_ms']:>9.3f}"
              f"{r['p99_ms']:>8.2f}")


def write_distinct_segments(directory, count, period):
    """`count` files s{i}.ts of SEG_BYTES, each a distinct rotation of one random block."""
    os.makedirs(directory)
    block = os.urandom(SEG_BYTES)
    for i in range(count):
        with open(os.path.join(directory, f"s{i}.ts"), "wb") as f:
            f.write(block[i % period:] + block[:i % period])


def memory(work):
    big = os.path.join(work, "big")
    count = 400 if QUICK else 1600  # x 1.3 MB = 0.5 / 2.1 GB
    write_distinct_segments(big, count, 997)
    script = wrk_script(work, "big", [f"/s{i}.ts" for i in range(count)])
    server = Origin("hls-origin-mem", big, work, budget="256MiB")
    try:
        # Each connection walks the list: every file is requested, most several times.
        r = run_wrk_sampling_rss(server, script, DURATION * 2, 8)
    finally:
        server.stop()
    peak = [r["rss_peak"]]
    served_gb = r["gbps"] * DURATION * 2
    print(f"\nmemory: {count} distinct segments ({count * SEG_BYTES / 1e9:.1f} GB), budget 256 MiB")
    print(f"  served {served_gb:.1f} GB, peak RSS {peak[0]:.0f} MB (budget + 40 MB = {256 * 1.048576 + 40:.0f} MB)")


def cold(work):
    """4.2 GB of distinct 1.3 MB segments through a 256 MiB cache, requests spread evenly."""
    root = os.path.join(work, "cold")
    count = 400 if QUICK else 3200
    write_distinct_segments(root, count, 1009)
    script = wrk_script(work, "cold", [f"/s{i}.ts" for i in range(count)])
    makers = [("(a) hls-origin hyper, read into RAM", lambda: Origin("cold-a", root, work, driver="hyper", zero_copy=False)),
              ("(b) hls-origin native, sendfile", lambda: Origin("cold-b", root, work)),
              ("(c) nginx sendfile on", lambda: Nginx("cold-c", root, work))]
    rows = {name: [] for name, _ in makers}
    for _ in range(ROUNDS):
        for name, make in makers:
            server = make()
            try:
                run_wrk(server, script, duration=3)
                r = run_wrk_sampling_rss(server, script, DURATION * 2, 64)
                rows[name].append(r)
            finally:
                server.stop()
    med = {n: {k: median(v, k) for k in v[0]} for n, v in rows.items()}
    a, c = med[makers[0][0]], med[makers[2][0]]
    print(f"\ncold: {count} distinct 1.3 MB segments ({count * SEG_BYTES / 1e9:.1f} GB), 256 MiB budget, median of {ROUNDS}")
    print(f"{'server':<38}{'GB/s':>7}{'CPU s/GB':>10}{'vs (a)':>8}{'vs (c)':>8}{'GB/s vs (c)':>12}{'RSS MB start/peak':>19}")
    for n, m in med.items():
        print(f"{n:<38}{m['gbps']:>7.2f}{m['cpu_s_per_gb']:>10.3f}{m['cpu_s_per_gb'] / a['cpu_s_per_gb']:>8.2f}"
              f"{m['cpu_s_per_gb'] / c['cpu_s_per_gb']:>8.2f}{m['gbps'] / c['gbps']:>12.2f}"
              f"{m['rss_start']:>11.0f}/{m['rss_peak']:<7.0f}")
    shutil.rmtree(root, ignore_errors=True)


def on_tmpfs(work):
    """A tmpfs with transparent huge pages for files that fit them (the deployment the README
    recommends), mounted for the run; `None` when mounting is not allowed here."""
    root = os.path.join(work, "tmpfs-root")
    os.makedirs(root)
    mount = ["mount", "-t", "tmpfs", "-o", "size=512m,huge=within_size,mode=0755", "hls-bench", root]
    if subprocess.run(mount, capture_output=True).returncode != 0:
        print("tmpfs: cannot mount here (needs root); skipped", file=sys.stderr)
        return None
    return root


def throughput_tables(work):
    """Playlists and hot segments, on the work directory's filesystem and (--tmpfs) on a tmpfs
    mounted huge=within_size: two tables, each naming its filesystem."""
    roots = [os.path.join(work, "root")]
    os.makedirs(roots[0])
    if "--tmpfs" in sys.argv:
        t = on_tmpfs(work)
        if t:
            roots.append(t)
    for root in roots:
        make_tree(root)
        stop = threading.Event()
        writer = threading.Thread(target=live_writer, args=(root, stop))
        writer.start()
        try:
            print(f"\nmachine: {machine(root)}; {time.strftime('%Y-%m-%d')}")
            print_table(throughput(root, work))
        finally:
            stop.set()
            writer.join()
            if root != roots[0]:
                subprocess.run(["umount", root])


def main():
    global FRESHNESS, FLOOR
    deps = os.path.join(ROOT_DIR, "target/release/deps")

    def newest(prefix):
        return max((os.path.join(deps, f) for f in os.listdir(deps)
                    if f.startswith(prefix) and os.access(os.path.join(deps, f), os.X_OK)
                    and not f.endswith(".d")), key=os.path.getmtime)
    FRESHNESS, FLOOR = newest("freshness-"), newest("tokio_floor-")
    work = tempfile.mkdtemp(prefix="hls-bench-")
    os.chmod(work, 0o755)
    if "--only-cold" in sys.argv:
        cold(work)
        shutil.rmtree(work, ignore_errors=True)
        return
    print(f"hls-origin vs nginx ({subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip()}),"
          f" {os.cpu_count()} CPUs, servers on CPU 0, wrk on CPU 1", file=sys.stderr)
    throughput_tables(work)
    if "--only-throughput" in sys.argv or "--only-playlists" in sys.argv:
        shutil.rmtree(work, ignore_errors=True)
        return
    root = os.path.join(work, "root")
    stop = threading.Event()
    writer = threading.Thread(target=live_writer, args=(root, stop))
    writer.start()
    try:
        print(f"\nmachine: {machine(root)}; {time.strftime('%Y-%m-%d')}")
        freshness(root, work)
    finally:
        stop.set()
        writer.join()
    memory(work)
    cold(work)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
