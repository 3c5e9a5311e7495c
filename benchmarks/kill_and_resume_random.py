"""Random-moment SIGKILLs of `vecmigrate migrate`, then a resume; and two migrations into one target at once.

What it checks, on sources shaped like ../shared/real-layouts.md (tests/real_layouts.py):
agentdb-native (400 episodes, 50 with vectors, skills, notes, exp_nodes), claude-flow-v3 (400
JSON-vector memories), qe-v3 (300). Per source: 4 attempts, each SIGKILLed at a random moment
(0.3-2.5 s), then the same command once more; the target must equal an uninterrupted run (ids,
content, kind, embedding_model, metadata, quarantine) and `verify --source` must pass. Then two
migrate processes start on one target together: one must refuse (the lock), the target must
equal the reference.
How to run (seeded, reproducible from its seed):
  python benchmarks/kill_and_resume_random.py 1
Prints one JSON line: per source [name, kills that landed, final exit code, equal, verify exit code].
"""
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import apsw  # noqa: E402
import real_layouts as rl  # noqa: E402

PY = sys.executable
seed = int(sys.argv[1]) if len(sys.argv) > 1 else 1
rng = random.Random(seed)
root = Path(tempfile.mkdtemp(prefix=f"vecmigrate-kill-{seed}-"))

def cli(*args, **kw):
    return subprocess.run([PY, "-m", "vecmigrate", *map(str, args)], capture_output=True, text=True, **kw)

def state(target):
    db = target / "patterns.sqlite"
    c = apsw.Connection(str(db), flags=apsw.SQLITE_OPEN_READONLY)
    rows = sorted(c.execute("SELECT id, content, kind, embedding_model, metadata FROM patterns"))
    q = sorted(c.execute("SELECT source_table, source_rowid, reason FROM quarantine"))
    c.close()
    return rows, q

sources = {"native": rl.agentdb_native(root / "native.db", episodes=400, with_vectors=50),
           "flow": rl.claude_flow_v3(root / "flow.db", 400),
           "qe": rl.qe_v3(root / "qe.db", 300)}
results = []
for name, fx in sources.items():
    args = ["migrate", "--source", fx.path, "--batch-size", "7", "--no-backup", "--embedder", "lexical",
            "--checkpoint-seconds", "0"]
    ref = root / f"{name}-ref.vecdb"
    r = cli(*args, "--target", ref); assert r.returncode in (0, 3), r.stderr
    target = root / f"{name}.vecdb"
    kills = 0
    for attempt in range(4):
        p = subprocess.Popen([PY, "-m", "vecmigrate", *map(str, args), "--target", str(target)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 2.5))
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL); kills += 1
        p.wait()
    r = cli(*args, "--target", target)
    ok = r.returncode in (0, 3) and state(target) == state(ref)
    v = cli("verify", "--target", target, "--source", fx.path, "--json")
    results.append((name, kills, r.returncode, ok, v.returncode))

# two processes on one target at once
fx = sources["native"]
t2 = root / "two.vecdb"
args = ["migrate", "--source", fx.path, "--batch-size", "7", "--no-backup", "--embedder", "lexical", "--target", t2]
p1 = subprocess.Popen([PY, "-m", "vecmigrate", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
p2 = subprocess.Popen([PY, "-m", "vecmigrate", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
o1, e1 = p1.communicate(); o2, e2 = p2.communicate()
same = state(t2) == state(root / "native-ref.vecdb")
print(json.dumps({"seed": seed, "kill_runs": results, "two_processes": [p1.returncode, p2.returncode,
      (e1 + e2).strip().splitlines()[-1:] , same]}))
