"""Check a regenerated golden set and compare it with the shared (2026.7) one.

usage: check_outputs.py OUTDIR WIRECAP_DIR SHARED_VECTORS_DIR

* every OUTDIR/{wire,synthetic}/*.bin must decode with wirecap's independent decoder
  (wire.decode_wire, which also asserts the nosplit invariant, + wire.decode_message);
* every OUTDIR/pickles/**/*.pkl must load with pickle.loads(data, buffers=[<name>.bufN...]);
* wire vector names are compared with SHARED_VECTORS_DIR/wire: names from REQUIRED missing
  -> exit 1; other missing names (timing-dependent, e.g. steal_*) are only reported.
Writes OUTDIR/logs/compare_with_shared.txt (names, sizes, top-level field differences).
"""
import fnmatch
import glob
import os
import pickle
import sys
import warnings

OUT, WIRECAP, SHARED = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, WIRECAP)
from wire import decode_message, decode_wire  # noqa: E402

REQUIRED = [
    "handshake_*", "identity_*", "register_client", "stream_start", "register_worker",
    "register_worker_reply", "heartbeat_*", "update_graph_*", "compute_task*", "task_finished",
    "key_in_memory*", "task_erred_*", "free_keys", "get_data_*", "gather_*", "scatter_*",
    "update_data_*", "client_releases_keys", "close_stream_client", "s2_*",
]

errors = []
report = []


def names(d, ext):
    return sorted(os.path.basename(p)[: -len(ext)] for p in glob.glob(os.path.join(d, "*" + ext)))


def fields(msg):
    """Top-level field names of a message (or of each op in a batch)."""
    items = msg if isinstance(msg, list) else [msg]
    out = set()
    for x in items:
        if isinstance(x, dict):
            op = x.get("op", "<reply>")
            out.update(f"{op}.{k}" for k in x if isinstance(k, str))
    return out


def decode_file(path):
    d = decode_wire(open(path, "rb").read())
    return d, decode_message(d["frames"])


# ------------------------------------------------------------------ wire/synthetic
for sub in ("wire", "synthetic"):
    for n in names(os.path.join(OUT, sub), ".bin"):
        try:
            decode_file(os.path.join(OUT, sub, n + ".bin"))
        except Exception as e:  # noqa: BLE001
            errors.append(f"{sub}/{n}.bin does not decode: {e!r}")

# ------------------------------------------------------------------ pickles
warnings.simplefilter("ignore")
npkl = 0
for pkl in sorted(glob.glob(os.path.join(OUT, "pickles", "**", "*.pkl"), recursive=True)):
    base = pkl[:-4]
    bufs = []
    while os.path.exists(f"{base}.buf{len(bufs)}"):
        bufs.append(bytearray(open(f"{base}.buf{len(bufs)}", "rb").read()))
    try:
        pickle.loads(open(pkl, "rb").read(), buffers=bufs)
        npkl += 1
    except Exception as e:  # noqa: BLE001
        errors.append(f"{os.path.relpath(pkl, OUT)} does not load: {e!r}")

# ------------------------------------------------------------------ compare with shared
mine = names(os.path.join(OUT, "wire"), ".bin")
shared = names(os.path.join(SHARED, "wire"), ".bin") if os.path.isdir(os.path.join(SHARED, "wire")) else []
missing = [n for n in shared if n not in mine]
extra = [n for n in mine if n not in shared]
req_missing = [n for n in missing if any(fnmatch.fnmatch(n, p) for p in REQUIRED)]
report.append(f"wire vectors: {len(mine)} produced, {len(shared)} in shared")
report.append(f"missing vs shared: {missing}")
report.append(f"extra vs shared: {extra}")
report.append("")
report.append(f"{'vector':42s} {'bytes(new)':>10s} {'bytes(shared)':>13s}  top-level fields added(+)/removed(-)")
for n in mine:
    if n not in shared:
        continue
    a = os.path.join(OUT, "wire", n + ".bin")
    b = os.path.join(SHARED, "wire", n + ".bin")
    try:
        fa, fb = fields(decode_file(a)[1]), fields(decode_file(b)[1])
        diff = sorted(f"+{x}" for x in fa - fb) + sorted(f"-{x}" for x in fb - fa)
    except Exception as e:  # noqa: BLE001
        diff = [f"<{e!r}>"]
    same = " (identical bytes)" if open(a, "rb").read() == open(b, "rb").read() else ""
    report.append(f"{n:42s} {os.path.getsize(a):10d} {os.path.getsize(b):13d}  {' '.join(diff)}{same}")

sp = os.path.join(SHARED, "pickles")
if os.path.isdir(sp):
    def stems(d):
        return {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(d, "*.pkl"))}
    for sub in ("", "extras"):
        a, b = stems(os.path.join(OUT, "pickles", sub)), stems(os.path.join(sp, sub))
        report.append("")
        report.append(f"pickles/{sub}: {len(a)} produced, {len(b)} in shared")
        report.append(f"  missing vs shared: {sorted(b - a)}")
        report.append(f"  extra vs shared: {sorted(a - b)}")

os.makedirs(os.path.join(OUT, "logs"), exist_ok=True)
with open(os.path.join(OUT, "logs", "compare_with_shared.txt"), "w") as f:
    f.write("\n".join(report) + "\n")

for sub in ("wire", "synthetic", "pickles", "pickles/extras", "logs"):
    d = os.path.join(OUT, sub)
    print(f"  {sub:15s} {len([x for x in os.listdir(d) if os.path.isfile(os.path.join(d, x))]):4d} files")
print(f"  decoded {len(mine)} wire + {len(names(os.path.join(OUT, 'synthetic'), '.bin'))} synthetic .bin, loaded {npkl} .pkl")
if missing:
    print(f"  wire names missing vs shared: {missing}")
if req_missing:
    errors.append(f"required wire vectors missing: {req_missing}")
for e in errors:
    print("ERROR:", e)
sys.exit(1 if errors else 0)
