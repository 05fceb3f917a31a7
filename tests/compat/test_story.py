"""Client.story: a key's history across the cluster, as dask maintainers debug with it."""
from __future__ import annotations

from distributed import Client

from compat_cluster import make_cluster


def test_story_shows_a_keys_transitions_with_the_stimuli_that_caused_them(tmp_path_factory):
    # A cluster of its own: the scheduler keeps its last 1000 transitions only, and the
    # session's cluster may still be busy with an earlier test's cancelled work.
    with make_cluster(tmp_path_factory, "story") as cluster:
        with Client(cluster.address, timeout=30) as c:
            c.wait_for_workers(3, timeout=60)
            _check_story(c)


def _check_story(client):
    x = client.submit(lambda: 1, key="story-x")
    y = client.submit(lambda v: v + 1, x, key="story-y")
    assert y.result(timeout=30) == 2
    story = client.story("story-x")
    scheduler = [s for s in story if s[0] == "scheduler"]
    # (who, key, start, finish, recommendations, stimulus_id, timestamp)
    steps = [(s[2], s[3]) for s in scheduler if s[1] == "story-x"]
    # A root task may wait in the queue first (worker-saturation).
    assert steps in ([("released", "waiting"), ("waiting", "processing"),
                      ("processing", "memory")],
                     [("released", "waiting"), ("waiting", "queued"), ("queued", "processing"),
                      ("processing", "memory")]), scheduler
    for s in scheduler:
        assert isinstance(s[4], dict) and isinstance(s[5], str) and s[5], s
        assert isinstance(s[6], float), s
    # The task finishing was caused by the worker's message: its stimulus id is the one
    # the worker sent (stock workers and ours both say "task-finished-<time>").
    finished = next(s for s in scheduler if s[1] == "story-x" and s[3] == "memory")
    assert finished[5].startswith("task-finished-"), finished
    # The workers tell their side of it: the worker that ran x has its own entries.
    workers = {s[0] for s in story if s[0] != "scheduler"}
    assert workers, story
    # Asking by stimulus id returns what that stimulus caused: on the workers (stock's
    # scheduler matches keys only; ours matches stimulus ids too).
    by_stimulus = client.story(finished[5])
    assert any(s[0] != "scheduler" and s[1] == "story-x" and finished[5] in s
               for s in by_stimulus), by_stimulus
