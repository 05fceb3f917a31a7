"""Run dn-wire-tool (tests/protocol/wire_tool.cc) and capture its output."""
import subprocess


def run_tool(tool, *args, input=None):
    return subprocess.run([tool, *map(str, args)], capture_output=True, input=input, text=True)
