#!/usr/bin/env python3
"""A/B of two hls-origin builds on hot 1.3 MB segments: both servers pinned to CPU 0, `wrk -t1
-c64` on CPU 1, 8 alternating 3 s runs, server CPU from /proc/PID/stat; prints each build's
median CPU per GB and GB/s, and the per-pair CPU ratio (pairs are seconds apart, so host drift
mostly cancels — single rounds of run.sh varied by 25-50 % on a contended VM).

Usage: python3 benches/segments_ab.py OLD_BINARY NEW_BINARY   (needs wrk)
"""
import sys
import os, subprocess, time, statistics, tempfile, re
root = tempfile.mkdtemp()
for i in range(20):
    with open(f"{root}/s{i}.ts", "wb") as f: f.write(os.urandom(1300000))
with open(f"{root}/urls.lua", "w") as f:
    f.write('local i=0\nrequest=function() i=(i+1)%20 return wrk.format("GET","/s"..i..".ts") end\n')
CLK = os.sysconf("SC_CLK_TCK")
def start(bin, port):
    cfg = f"{root}/{port}.toml"
    open(cfg,"w").write(f'[server]\nlisten = "127.0.0.1:{port}"\nroot = "{root}"\naccess_log = false\n')
    p = subprocess.Popen(["taskset","-c","0",bin,"serve","--config",cfg], stderr=subprocess.DEVNULL)
    time.sleep(1)
    return p
def cpu(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")",1)[1].split()
    return (int(f[11])+int(f[12]))/CLK
servers = {"base": start(sys.argv[1], 18081), "final": start(sys.argv[2], 18082)}
ports = {"base": 18081, "final": 18082}
res = {k: [] for k in servers}
for r in range(8):
    for name in (["base","final"] if r%2==0 else ["final","base"]):
        p = servers[name]; c0 = cpu(p.pid)
        out = subprocess.run(["taskset","-c","1","wrk","-t1","-c64","-d3s","-s",f"{root}/urls.lua",f"http://127.0.0.1:{ports[name]}/"],capture_output=True,text=True).stdout
        c1 = cpu(p.pid)
        reqs = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        gb = reqs*3*1.3e6/1e9
        res[name].append(((c1-c0)/gb, reqs*1.3e6/1e9))
for p in servers.values(): p.kill()
for k,v in res.items():
    print(k, "CPU s/GB median %.3f" % statistics.median(x[0] for x in v), "GB/s median %.2f" % statistics.median(x[1] for x in v))
pairs = [f[0]/b[0] for b,f in zip(res["base"], res["final"])]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
print("machine:", harness.machine(root))
print("final/base CPU per GB per pair: median %.3f, min %.3f, max %.3f" % (statistics.median(pairs), min(pairs), max(pairs)))
