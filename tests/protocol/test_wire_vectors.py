"""The C++ message decoder agrees with Python's msgpack on every captured message, and
re-encodes each one to the identical bytes (nosplit length included)."""
import json

from canonical import canonical_message
from protocol_tool import run_tool

# An op each named capture must contain (batches may hold others too, depending on
# timing when they were captured); see
# shared/vectors/README-captures.md.
EXPECTED_OPS = {
    "compute_task.bin": "compute-task",
    "compute_task_with_dependencies.bin": "compute-task",
    "register_client.bin": "register-client",
    "register_worker.bin": "register-worker",
    "stream_start.bin": "stream-start",
    "heartbeat_worker.bin": "heartbeat_worker",
    "task_finished.bin": "task-finished",
    "key_in_memory.bin": "key-in-memory",
    "update_graph_submit.bin": "update-graph",
    "update_graph_array_persist.bin": "update-graph",
    "free_keys.bin": "free-keys",
    "get_data_request_worker_to_worker.bin": "get_data",
    "gather_request_client_to_scheduler.bin": "gather",
    "identity_request.bin": "identity",
    "task_erred_worker_to_scheduler.bin": "task-erred",
    "client_releases_keys.bin": "client-releases-keys",
    "s2_who_has_request.bin": "who_has",
}


def _decode_all(wire_tool, files):
    r = run_tool(wire_tool, "message", *files)
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(lines) == len(files), r.stderr
    return {line["file"]: line for line in lines}


def test_every_capture_matches_python_msgpack(wire_tool, vector_root):
    files = sorted((vector_root / "wire").glob("*.bin")) + sorted(
        (vector_root / "synthetic").glob("*.bin"))
    assert len(files) >= 60
    decoded = _decode_all(wire_tool, [str(f) for f in files])
    for f in files:
        got = decoded[str(f)]
        assert "error" not in got, (f.name, got.get("error"))
        assert got["value"] == canonical_message(f.read_bytes()), f.name
        assert got["reencoded_identical"], f.name
        if f.name in EXPECTED_OPS:
            assert EXPECTED_OPS[f.name] in got["ops"], (f.name, got["ops"])


def test_malformed_messages_are_refused(wire_tool, tmp_path):
    import struct
    cases = {
        "huge_frame": struct.pack("<QQQ", 24, 1, 2**63),
        "truncated": struct.pack("<QQQ", 26, 1, 10) + b"\x81",
        "bad_msgpack": struct.pack("<QQQ", 25, 1, 1) + b"\xc1",
        "placeholder_past_end": struct.pack("<QQQ", 33, 1, 17) + b"\x81\xae__Serialized__\x05",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        r = run_tool(wire_tool, "message", p)
        assert r.returncode == 1, name
        assert "error" in json.loads(r.stdout), name
