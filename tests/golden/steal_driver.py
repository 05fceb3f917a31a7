"""Scenario 3 (only for steal_request / steal_response): a client that makes work
stealing happen.  regenerate.sh copies this file over `driver.py` in a temp copy of the
wirecap tools and runs wirecap's run_capture.sh (LocalCluster, 2 workers x 1 thread), so
analyze.py recognises the client process by its argv.  20 slow tasks are submitted
with `workers=[w1], allow_other_workers=True` (loose restrictions): they all land on
w1 while w2 is idle, so the scheduler's WorkStealing extension moves some of them
-> `steal-request` (scheduler -> w1) and `steal-response` (w1 -> scheduler)."""
import sys
import time

try:
    import _wirecap
    mark = _wirecap.mark
except ImportError:
    def mark(name, **kw):
        print("MARK", name, kw)


def slow(i):
    import time
    time.sleep(0.2)
    return i


def phase(name):
    time.sleep(0.6)
    mark(name)
    print("PHASE", name, flush=True)


if __name__ == "__main__":
    from distributed import Client, wait

    phase("s3-connect")
    client = Client(sys.argv[1])
    client.wait_for_workers(2)
    w1 = sorted(client.scheduler_info()["workers"])[0]
    phase("s3-steal")
    futs = [client.submit(slow, i, workers=[w1], allow_other_workers=True, pure=False)
            for i in range(20)]
    wait(futs)
    print("results", sum(f.result() for f in futs))
    del futs
    phase("s3-close")
    client.close()
    phase("driver-done")
