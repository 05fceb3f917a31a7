"""Re-select timing-dependent vectors from raw capture records.

usage (cwd = a copy of shared/tools/wirecap, for load.py / wire.py):
    select_vectors.py RAWDIR VECDIR PREFIX

analyze.py keeps the *first* message matching each predicate.  For a few vectors the
interesting property depends on timing; this picks the first message that has it and
overwrites VECDIR/<PREFIX><name>.bin (same byte layout as analyze.py: header + frames).

* heartbeat_worker: the README promises `metrics.digests_total_since_heartbeat` with
  tuple (msgpack array) map keys such as ["execute", "make_big", "thread-cpu", "seconds"];
  the first heartbeat after worker start usually has none, so prefer one with an
  "execute" tuple key, else any tuple key.  Only used for scenario 2 (PREFIX s2_).
"""
import os
import sys

sys.path.insert(0, os.getcwd())  # the wirecap copy (a script's sys.path[0] is its own dir)
from load import load  # noqa: E402
from wire import decode_message  # noqa: E402


def tuple_keys(msg):
    try:
        d = msg["metrics"]["digests_total_since_heartbeat"]
    except (KeyError, TypeError):
        return []
    return [k for k in d if isinstance(k, tuple)]


def main():
    raw, vecdir, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
    best = {}
    for r in load(raw):
        if r["kind"] != "send" or not r["complete"]:
            continue
        try:
            m = decode_message(r["frames"])
        except Exception:
            continue
        if isinstance(m, dict) and m.get("op") == "heartbeat_worker":
            tk = tuple_keys(m)
            if any(k and k[0] == "execute" for k in tk):
                best.setdefault("heartbeat_worker/execute", r)
            elif tk:
                best.setdefault("heartbeat_worker/any", r)
    r = best.get("heartbeat_worker/execute") or best.get("heartbeat_worker/any")
    if r is None:
        print("select_vectors: no heartbeat_worker with tuple metric keys; keeping analyze.py's choice")
        return
    path = os.path.join(vecdir, prefix + "heartbeat_worker.bin")
    wire = r["header"] + b"".join(r["frames"])
    with open(path, "wb") as f:
        f.write(wire)
    print(f"select_vectors: {os.path.basename(path)} <- heartbeat with {len(tuple_keys(decode_message(r['frames'])))} tuple metric keys ({len(wire)} B)")


if __name__ == "__main__":
    main()
