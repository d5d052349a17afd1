#!/usr/bin/env python3
"""A/B tool for work on the playlist hot path: starts every server once on the tree run.sh
generates (with its live writer), then runs N short `wrk` runs on each, interleaved (A B C,
C B A, ...), pausing the others (SIGSTOP) during each run, and prints each server's CPU per
request and the quartiles of its per-pair CPU ratio against the first server. Pairs are seconds
apart, so host drift (±5-10% between runs minutes apart on the development VM) mostly cancels:
use it to compare builds. `benches/run.sh` (fresh servers per round, 10 s runs) is the
reference for ratios against nginx; the two methods have disagreed by several percent on
nginx's own CPU per request.

Usage (after `cargo build --release --bins --benches`):
  python3 benches/interleave.py [--runs 20] [--secs 2] NAME=SERVER ...
SERVER: `nginx` (tuned), `nginx-off` (sendfile off), `floor` (benches/tokio_floor.rs), or the
path of an hls-origin binary (e.g. target/release/hls-origin, or a saved copy of an older build).
"""
import os, signal, statistics, sys, tempfile, shutil, threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def start(name, server, root, work):
    if server in ("nginx", "nginx-off"):
        return harness.Nginx(name, root, work, sendfile=server == "nginx")
    if server == "floor":
        return harness.Floor(name, root, work)
    harness.BIN = os.path.abspath(server)
    return harness.Origin(name, root, work)


def pause(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def main():
    args, runs, secs = sys.argv[1:], 20, 2
    while args and args[0].startswith("--"):
        flag, value, args = args[0], int(args[1]), args[2:]
        runs, secs = (value, secs) if flag == "--runs" else (runs, value)
    servers = dict(a.split("=", 1) for a in args)
    if not servers:
        sys.exit(__doc__)
    deps = os.path.join(harness.ROOT_DIR, "target/release/deps")
    harness.FLOOR = max((os.path.join(deps, f) for f in os.listdir(deps)
                         if f.startswith("tokio_floor-") and not f.endswith(".d")), key=os.path.getmtime)
    work = tempfile.mkdtemp(prefix="hls-ab-")
    os.chmod(work, 0o755)
    root = os.path.join(work, "root")
    os.makedirs(root)
    harness.make_tree(root)
    script = harness.wrk_script(work, "playlists", [f"/pl/s{i}/index.m3u8" for i in range(200)])
    names = list(servers)
    running = {}
    stop = threading.Event()
    writer = threading.Thread(target=harness.live_writer, args=(root, stop))  # as in run.sh
    writer.start()
    try:
        for n in names:
            running[n] = start(n, servers[n], root, work)
            harness.run_wrk(running[n], script, duration=2)  # warm-up
        results = {n: [] for n in names}
        for i in range(runs):
            for n in names if i % 2 == 0 else names[::-1]:
                # The others are paused meanwhile: on the same CPU their background work (the
                # live writer's events) would disturb the one being measured.
                others = [p for m in names if m != n for p in running[m].pids()]
                pause(others, signal.SIGSTOP)
                try:
                    results[n].append(harness.run_wrk(running[n], script, duration=secs))
                finally:
                    pause(others, signal.SIGCONT)
    finally:
        stop.set()
        writer.join()
        for s in running.values():
            s.stop()
        shutil.rmtree(work, ignore_errors=True)
    base = names[0]
    print(f"machine: {harness.machine(tempfile.gettempdir())}")
    print(f"{runs} interleaved {secs}s runs per server; CPU ratios per pair against {base}")
    print(f"{'server':<14}{'req/s':>10}{'CPU us/req':>12}{'ratio p25':>11}{'median':>8}{'p75':>8}")
    for n in names:
        rs = results[n]
        cpu = sum(r["cpu_us_per_req"] * r["rps"] for r in rs) / sum(r["rps"] for r in rs)
        ratios = [a["cpu_us_per_req"] / b["cpu_us_per_req"] for a, b in zip(rs, results[base])]
        q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
        print(f"{n:<14}{statistics.median(r['rps'] for r in rs):>10.0f}{cpu:>12.2f}{q[0]:>11.3f}"
              f"{statistics.median(ratios):>8.3f}{q[2]:>8.3f}")


if __name__ == "__main__":
    main()
