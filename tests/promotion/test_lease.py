"""The promotion lease: mutual exclusion on one registered model, expiry, busy and lost leases."""

import json
import threading
import time

import pytest
from mlflow import MlflowClient

from mlflow_delta_plugin.errors import ConcurrentPromotionError, PromotionBusyError
from mlflow_delta_plugin.promotion.lease import LEASE_TAG_PREFIX, PromotionLease


@pytest.fixture
def registered(mlflow_env, model_name) -> str:
    MlflowClient().create_registered_model(model_name)
    return model_name


def _lease_tags(name: str) -> dict:
    tags = MlflowClient().get_registered_model(name).tags
    return {k: v for k, v in tags.items() if k.startswith(LEASE_TAG_PREFIX)}


def test_threads_never_hold_the_lease_together(registered):
    inside, overlaps, done = [], [], []
    start = threading.Barrier(4)

    def contend(worker: int) -> None:
        client = MlflowClient()
        start.wait()
        for _ in range(3):
            with PromotionLease(client, registered, owner=f"worker-{worker}", poll_s=0.02):
                inside.append(worker)
                if len(inside) > 1:
                    overlaps.append(list(inside))
                time.sleep(0.03)
                inside.remove(worker)
                done.append(worker)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not overlaps
    assert sorted(done) == sorted(list(range(4)) * 3)
    assert _lease_tags(registered) == {}


def test_release_removes_only_its_own_claim_and_check_passes_while_held(registered):
    client = MlflowClient()
    with PromotionLease(client, registered, owner="a") as lease:
        lease.check()
        claim = json.loads(_lease_tags(registered)[lease.key])
        assert claim["owner"] == "a" and claim["expires_at"] > time.time()
    assert _lease_tags(registered) == {}


def test_a_busy_lease_makes_the_second_promotion_wait_then_give_up(registered):
    client = MlflowClient()
    with PromotionLease(client, registered, owner="alice", run_id="r1"):
        waiting = PromotionLease(client, registered, owner="bob", wait_s=0.3, poll_s=0.05)
        with pytest.raises(PromotionBusyError, match=r"is being promoted by alice \(run r1\)"):
            waiting.acquire()
    assert _lease_tags(registered) == {}


def test_an_expired_claim_of_a_crashed_promotion_is_ignored_and_cleaned(registered):
    client = MlflowClient()
    stale = LEASE_TAG_PREFIX + "crashed"
    client.set_registered_model_tag(registered, stale, json.dumps(
        {"owner": "crashed", "expires_at": time.time() - 1}))
    with PromotionLease(client, registered, owner="next", wait_s=1):
        assert stale not in _lease_tags(registered)


def test_check_fails_when_the_claim_was_lost(registered):
    client = MlflowClient()
    lease = PromotionLease(client, registered, owner="a").acquire()
    client.delete_registered_model_tag(registered, lease.key)
    with pytest.raises(ConcurrentPromotionError, match="lease .* was lost"):
        lease.check()
    lease.release()
