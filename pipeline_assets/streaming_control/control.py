"""Start, redeploy and roll back a Spark streaming job on EMR Serverless without losing or duplicating events.

Redeploy, in this order:
 1. refuse unless the new release's query may resume from the checkpoint (query.json, contract.py)
    and its artifacts match the release's spark/manifest.json;
 2. cancel the running job with a shutdown grace period: it stops between micro-batches, so the
    checkpoint ends on a committed batch;
 3. snapshot the checkpoint prefix (after the stop, so the copy is consistent; before anything
    new writes to it);
 4. start the new release on the same checkpoint;
 5. bake: the run must stay active and commit new micro-batches for the bake period;
 6. on failure: mark the release failed (first, so that no later run starts it again whatever
    fails next), cancel every run of the job, put the snapshot back, delete sink output of batches
    after the snapshot (they will be planned again) and restart the previous release's exact job
    driver.

Before step 2 a journal (`_control/<job>/redeploy.json`) records where the redeploy is; it is
removed when the redeploy ends either way. Whatever interrupts a redeploy (an API error, a lost
answer, a process that dies), the next run finds the journal and finishes the work or undoes it
before doing anything else, so a failed redeploy never leaves the stream stopped and never starts
the new release without a bake.

Used by `cicd streaming …` and by the streaming supervisor DAG (ensure_streaming_job).
Standard library and injected boto3 clients only: it ships in the DAG bundle and must not import
cicd or Spark.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, NoReturn
from urllib.parse import urlparse

from . import runs, store
from .contract import incompatibilities

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "_control"
SNAPSHOT_PREFIX = "_snapshots"
SNAPSHOT_MANIFEST = "_snapshot.json"
JOURNAL = "redeploy.json"


@dataclass(frozen=True)
class Timing:
    shutdown_grace_s: int = 120
    cancel_timeout_s: float = 900
    start_timeout_s: float = 900
    bake_s: float = 600
    poll_s: float = 15
    min_new_batches: int = 2  # micro-batches the new run must commit during the bake
    # Pass the bake as soon as min_new_batches are committed (bake_s becomes the limit): for a rollback to a
    # release that already ran, where proving progress is enough and every second of waiting is downtime.
    pass_on_progress: bool = False
    lock_ttl_s: float = 3 * 3600  # a lock older than this belongs to a process that died


@dataclass
class Outcome:
    action: str  # running | started | restarted | rolled_back
    job_name: str
    job_run_id: str | None
    release_id: str | None
    previous_release_id: str | None = None
    snapshot_id: str | None = None
    reason: str | None = None
    steps: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class StreamingControlError(RuntimeError):
    pass


class CheckpointIncompatibleError(StreamingControlError):
    pass


class ReleaseArtifactError(StreamingControlError):
    pass


class ReleaseMarkedFailedError(StreamingControlError):
    pass


class RedeployAbandonedError(StreamingControlError):
    """The redeploy stopped before the new release ran; the message says what runs now and what happens next."""


class RedeployFailedError(StreamingControlError):
    """The new release failed its bake; the previous one runs again from the snapshot."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        super().__init__(
            f"{outcome.job_name}: release {outcome.previous_release_id} failed ({outcome.reason}); rolled back to "
            f"{outcome.release_id} from snapshot {outcome.snapshot_id} (run {outcome.job_run_id})"
        )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _reason(exc: BaseException) -> str:
    """One line for a failure: our own errors as they are, AWS errors as 'Code: message'."""
    if isinstance(exc, StreamingControlError | runs.RunError | store.StoreError):
        return str(exc)
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        error = response["Error"]
        return f"{type(exc).__name__} {error.get('Code', '?')}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def _precondition_failed(exc: BaseException) -> bool:
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code in ("PreconditionFailed", "412")


def retarget(job_driver: dict[str, Any], old_release: str, new_release: str) -> dict[str, Any]:
    """The same job driver pointing at another release's artifacts (configuration unchanged)."""
    old, new = f"/releases/{old_release}/", f"/releases/{new_release}/"
    submit = dict(job_driver["sparkSubmit"])
    submit["entryPoint"] = submit["entryPoint"].replace(old, new)
    if "sparkSubmitParameters" in submit:
        submit["sparkSubmitParameters"] = submit["sparkSubmitParameters"].replace(old, new)
    submit["entryPointArguments"] = [a.replace(old, new) for a in submit.get("entryPointArguments", [])]
    if new not in submit["entryPoint"]:
        raise StreamingControlError(f"entry point {submit['entryPoint']} is not under releases/{old_release}/")
    return {**job_driver, "sparkSubmit": submit}


def sink_uris(job_driver: dict[str, Any]) -> list[str]:
    """Where the job writes micro-batches: --output and --quarantine (or its default beside the output).

    The default mirrors pipeline_assets/spark/common/io.py default_quarantine (a test keeps them equal).
    """
    output = runs.argument(job_driver, "--output")
    if output is None:
        return []
    quarantine = runs.argument(job_driver, "--quarantine")
    if quarantine is None:
        pipeline_id = runs.argument(job_driver, "--pipeline-id") or "unknown"
        quarantine = f"s3://{urlparse(output).netloc}/quarantine/{pipeline_id}/"
    return [output, quarantine]


@dataclass
class Controller:
    emr: Any
    s3: Any
    application_id: str
    job_name: str
    timing: Timing = field(default_factory=Timing)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], dt.datetime] = _utcnow
    log: Callable[[str], None] = logger.info

    # --- where things live ------------------------------------------------------------

    def _control_key(self, name: str) -> str:
        return f"{CONTROL_PREFIX}/{self.job_name}/{name}"

    def _snapshots_prefix(self) -> str:
        return f"{SNAPSHOT_PREFIX}/{self.job_name}/"

    @staticmethod
    def checkpoint_of(job_driver: dict[str, Any]) -> str:
        checkpoint = runs.argument(job_driver, "--checkpoint")
        if checkpoint is None:
            raise StreamingControlError("the job driver has no --checkpoint argument: a streaming job needs one")
        return checkpoint

    def _step(self, outcome: Outcome, message: str) -> None:
        outcome.steps.append(message)
        self.log(f"{self.job_name}: {message}")

    # --- guards -------------------------------------------------------------------------

    @contextmanager
    def lock(self, bucket: str) -> Iterator[None]:
        """One controller at a time per job (the supervisor and a person at the CLI may overlap)."""
        key = self._control_key("lock.json")
        body = {
            "owner": f"{socket.gethostname()}:{os.getpid()}",
            "acquired_at": self.now().isoformat(),
            "token": uuid.uuid4().hex,
        }
        for attempt in (1, 2):
            try:
                store.put_json(self.s3, bucket, key, body, IfNoneMatch="*")
                break
            except Exception as exc:
                held = store.read_json_or_none(self.s3, bucket, key) or {}
                if held.get("token") == body["token"]:
                    break  # our write landed and only its answer was lost (or botocore's retry met our own lock)
                if not _precondition_failed(exc):
                    raise
                acquired = dt.datetime.fromisoformat(held.get("acquired_at", self.now().isoformat()))
                if attempt == 1 and (self.now() - acquired).total_seconds() > self.timing.lock_ttl_s:
                    self.log(f"{self.job_name}: breaking a stale lock held by {held.get('owner')} since {acquired}")
                    self.s3.delete_object(Bucket=bucket, Key=key)
                    continue
                raise StreamingControlError(
                    f"{held.get('owner', 'someone')} has been changing {self.job_name} since {acquired}; "
                    f"wait, or delete s3://{bucket}/{key} if that process died"
                ) from exc
        try:
            yield
        except BaseException:
            self._release_lock(bucket, key, body["token"], failing=True)
            raise
        self._release_lock(bucket, key, body["token"], failing=False)

    def _release_lock(self, bucket: str, key: str, token: str, *, failing: bool) -> None:
        try:
            self.s3.delete_object(Bucket=bucket, Key=key)
            return
        except Exception as exc:
            problem = exc
        try:
            held = store.read_json_or_none(self.s3, bucket, key)
        except Exception:
            held = {"token": token}  # cannot tell: say it may still be held
        if not held or held.get("token") != token:
            return  # the delete landed; only its answer was lost
        message = (
            f"{self.job_name}: could not release the lock s3://{bucket}/{key} ({_reason(problem)}); delete it, or "
            f"the next controller waits {self.timing.lock_ttl_s / 3600:.0f} h for it to go stale"
        )
        if failing:  # the error already on its way out says more; keep this one in the log
            self.log(message)
            return
        raise StreamingControlError(message) from problem

    def query_contract(self, release_bucket: str, release_id: str) -> dict[str, Any]:
        try:
            return dict(
                store.read_json(self.s3, release_bucket, f"releases/{release_id}/spark/{self.job_name}/query.json")
            )
        except store.StoreError as exc:
            raise ReleaseArtifactError(
                f"release {release_id} has no query contract for {self.job_name}: {exc}"
            ) from exc

    def check_resumable(self, old: dict[str, Any], new: dict[str, Any], what: str) -> None:
        problems = incompatibilities(old, new)
        if problems:
            raise CheckpointIncompatibleError(
                f"{self.job_name}: {what} cannot resume from the checkpoint: {'; '.join(problems)}. "
                "A changed query needs a new checkpoint location (and a replay plan), not a redeploy"
            )

    def verify_artifacts(self, release_bucket: str, release_id: str) -> None:
        manifest_key = f"releases/{release_id}/spark/manifest.json"
        try:
            manifest = store.read_json(self.s3, release_bucket, manifest_key)
        except store.StoreError as exc:
            raise ReleaseArtifactError(f"release {release_id} is not in s3://{release_bucket}: {exc}") from exc
        expected = manifest.get("jobs", {}).get(self.job_name, {}).get("sha256")
        if not expected:
            raise ReleaseArtifactError(f"release {release_id}'s spark manifest does not list {self.job_name}")
        for name, digest in sorted(expected.items()):
            key = f"releases/{release_id}/spark/{self.job_name}/{name}"
            try:
                actual = store.sha256_of(self.s3, release_bucket, key)
            except store.StoreError as exc:
                raise ReleaseArtifactError(str(exc)) from exc
            if actual != digest:
                raise ReleaseArtifactError(
                    f"s3://{release_bucket}/{key} has sha256 {actual}, the manifest says {digest}"
                )

    def failed_mark(self, bucket: str, release_id: str) -> dict[str, Any] | None:
        mark = store.read_json_or_none(self.s3, bucket, self._control_key(f"failed-releases/{release_id}.json"))
        return dict(mark) if mark else None

    def clear_failed_mark(self, bucket: str, release_id: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=self._control_key(f"failed-releases/{release_id}.json"))

    def _record_running(self, bucket: str, release_id: str, contract: dict[str, Any]) -> None:
        """The contract of what runs on the checkpoint now: a later fresh start is checked against it."""
        store.put_json(
            self.s3, bucket, self._control_key("contract.json"), {"release_id": release_id, "contract": contract}
        )

    def _mark_failed(self, bucket: str, release_id: str, reason: str, snapshot_id: str | None) -> None:
        store.put_json(
            self.s3,
            bucket,
            self._control_key(f"failed-releases/{release_id}.json"),
            {"release_id": release_id, "reason": reason, "at": self.now().isoformat(), "snapshot": snapshot_id},
        )

    # --- the journal of a redeploy in progress ------------------------------------------

    def _journal_key(self) -> str:
        return self._control_key(JOURNAL)

    def read_journal(self, bucket: str) -> dict[str, Any] | None:
        journal = store.read_json_or_none(self.s3, bucket, self._journal_key())
        return dict(journal) if journal else None

    def _write_journal(self, bucket: str, journal: dict[str, Any]) -> None:
        store.put_json(self.s3, bucket, self._journal_key(), journal)

    def _clear_journal(self, bucket: str) -> None:
        self.s3.delete_object(Bucket=bucket, Key=self._journal_key())

    def _attempt(self, outcome: Outcome, what: str, action: Callable[[], None]) -> bool:
        """A bookkeeping write that must not stop a rollback: False (and a logged step) when it failed."""
        try:
            action()
        except Exception as exc:
            self._step(outcome, f"could not {what} ({_reason(exc)}); the next run does it")
            return False
        return True

    # --- the steps ----------------------------------------------------------------------

    def _start_and_wait(self, outcome: Outcome, *, job_driver: dict[str, Any], tags: dict[str, str], role: str) -> str:
        run_id = runs.start(
            self.emr,
            application_id=self.application_id,
            job_name=self.job_name,
            execution_role_arn=role,
            job_driver=job_driver,
            tags=tags,
        )
        outcome.job_run_id = run_id
        self._step(outcome, f"started run {run_id}")
        runs.wait_for(
            self.emr,
            self.application_id,
            run_id,
            states=("RUNNING",),
            fail_on=runs.ENDED_STATES,
            timeout_s=self.timing.start_timeout_s,
            poll_s=self.timing.poll_s,
            clock=self.clock,
            sleep=self.sleep,
        )
        self._step(outcome, f"run {run_id} is RUNNING")
        return run_id

    def _cancel(self, outcome: Outcome, run_id: str) -> None:
        ended = runs.cancel(
            self.emr,
            self.application_id,
            run_id,
            grace_s=self.timing.shutdown_grace_s,
            timeout_s=self.timing.cancel_timeout_s,
            poll_s=self.timing.poll_s,
            clock=self.clock,
            sleep=self.sleep,
        )
        self._step(outcome, f"cancelled run {run_id} (grace {self.timing.shutdown_grace_s} s): {ended['state']}")

    def _wait_ended(self, outcome: Outcome, run_id: str) -> None:
        ended = runs.wait_for(
            self.emr,
            self.application_id,
            run_id,
            states=runs.FINAL_STATES,
            timeout_s=self.timing.cancel_timeout_s,
            poll_s=self.timing.poll_s,
            clock=self.clock,
            sleep=self.sleep,
        )
        self._step(outcome, f"run {run_id} ended {ended['state']}")

    def settle(self, outcome: Outcome | None = None) -> None:
        """Wait until no run of the job is CANCELLING: such a run still holds the checkpoint."""
        outcome = outcome or Outcome("running", self.job_name, None, None)
        for run in runs.runs_of(self.emr, self.application_id, self.job_name, ("CANCELLING",)):
            try:
                self._wait_ended(outcome, run["id"])
            except runs.RunError as exc:
                raise StreamingControlError(
                    f"{self.job_name}: run {run['id']} is still CANCELLING after {self.timing.cancel_timeout_s:.0f} s "
                    "and holds the checkpoint until it ends, so nothing new was started; the next supervisor run "
                    f"looks again (or cancel it: aws emr-serverless cancel-job-run --job-run-id {run['id']})"
                ) from exc

    def _stop_all(self, outcome: Outcome) -> None:
        """Cancel every run of the job, known or not (a StartJobRun whose answer was lost leaves one we never saw)."""
        for run in runs.runs_of(self.emr, self.application_id, self.job_name):
            try:
                if run["state"] == "CANCELLING":
                    self._wait_ended(outcome, run["id"])
                else:
                    self._cancel(outcome, run["id"])
            except Exception as exc:
                raise StreamingControlError(
                    f"run {run['id']} did not stop ({_reason(exc)}); nothing was restarted, because two runs must "
                    "never share the checkpoint"
                ) from exc

    def _run_state(self, run_id: str) -> str | None:
        try:
            return str(runs.describe(self.emr, self.application_id, run_id)["state"])
        except Exception:
            return None

    def snapshot(self, outcome: Outcome, run: dict[str, Any], release_id: str | None) -> dict[str, Any]:
        checkpoint = self.checkpoint_of(run["jobDriver"])
        bucket, prefix = store.split_uri(checkpoint)
        snapshot_id = f"{self.now():%Y%m%dT%H%M%SZ}-{release_id}"
        target = f"{self._snapshots_prefix()}{snapshot_id}/"
        copied = store.copy_prefix(self.s3, bucket, prefix, target)
        manifest = {
            "snapshot_id": snapshot_id,
            "job_name": self.job_name,
            "release_id": release_id,
            "job_run_id": run.get("jobRunId"),
            "job_driver": run["jobDriver"],
            "tags": run.get("tags") or {},
            "execution_role_arn": run.get("executionRole"),
            "checkpoint": checkpoint,
            "last_committed_batch": store.last_committed_batch(self.s3, checkpoint),
            "objects": copied,
            "created_at": self.now().isoformat(),
        }
        store.put_json(self.s3, bucket, target + SNAPSHOT_MANIFEST, manifest)
        outcome.snapshot_id = snapshot_id
        self._step(
            outcome,
            f"snapshot {snapshot_id}: {copied} objects, last committed batch {manifest['last_committed_batch']}",
        )
        return manifest

    def load_snapshot(self, bucket: str, snapshot_id: str | None = None) -> dict[str, Any]:
        prefix = self._snapshots_prefix()
        manifests = sorted(k for k in store.keys(self.s3, bucket, prefix) if k.endswith("/" + SNAPSHOT_MANIFEST))
        if snapshot_id is not None:
            manifests = [k for k in manifests if k == f"{prefix}{snapshot_id}/{SNAPSHOT_MANIFEST}"]
        if not manifests:
            wanted = f"snapshot {snapshot_id}" if snapshot_id else "snapshot"
            raise StreamingControlError(
                f"no {wanted} of {self.job_name} under s3://{bucket}/{prefix} (redeploys take one before they switch)"
            )
        return dict(store.read_json(self.s3, bucket, manifests[-1]))

    def restore(self, outcome: Outcome, snapshot: dict[str, Any]) -> None:
        bucket, prefix = store.split_uri(snapshot["checkpoint"])
        source = f"{self._snapshots_prefix()}{snapshot['snapshot_id']}/"
        restored = store.replace_prefix(self.s3, bucket, prefix, source, skip=(SNAPSHOT_MANIFEST,))
        self._step(outcome, f"checkpoint restored from snapshot {snapshot['snapshot_id']} ({restored} objects)")
        for sink in sink_uris(snapshot["job_driver"]):
            pruned = store.prune_batches_after(self.s3, sink, snapshot["last_committed_batch"])
            self._step(
                outcome, f"removed {pruned} sink object(s) after batch {snapshot['last_committed_batch']} in {sink}"
            )

    def _passes_early(self, run: dict[str, Any] | None, checkpoint: str, since_batch: int) -> bool:
        """With pass_on_progress: has the running new run committed enough micro-batches yet? A checkpoint
        that cannot be read right now is no answer either way: the bake goes on, and its end decides."""
        if not self.timing.pass_on_progress or run is None or run["state"] != "RUNNING":
            return False
        try:
            return store.last_committed_batch(self.s3, checkpoint) - since_batch >= self.timing.min_new_batches
        except Exception:  # any read failure (API error, throttling, a lost answer): look again next poll
            return False

    def bake(self, outcome: Outcome, run_id: str, checkpoint: str, since_batch: int) -> str | None:
        """None when the run stayed active and made progress for the whole bake period, else why not.

        A poll that cannot read the run says nothing about the run: it is logged and the next poll
        looks again. Only the last look decides, and it must be a successful one."""
        self._step(outcome, f"baking run {run_id} for {self.timing.bake_s:.0f} s")
        deadline = self.clock() + self.timing.bake_s
        run: dict[str, Any] | None = None
        unreadable = ""
        while True:
            try:
                run = runs.describe(self.emr, self.application_id, run_id)
            except Exception as exc:
                run, unreadable = None, _reason(exc)
                self._step(outcome, f"could not read run {run_id} during the bake ({unreadable}); looking again")
            if run is not None and run["state"] not in runs.ACTIVE_STATES:
                return f"run {run_id} ended {run['state']} during the bake: {run.get('stateDetails') or 'no details'}"
            if self.clock() >= deadline:
                break
            if self._passes_early(run, checkpoint, since_batch):
                break
            self.sleep(self.timing.poll_s)
        if run is None:
            return f"could not read run {run_id} at the end of the bake ({unreadable})"
        committed = store.last_committed_batch(self.s3, checkpoint)
        progress = committed - since_batch
        if run["state"] != "RUNNING" or progress < self.timing.min_new_batches:
            return (
                f"run {run_id} is {run['state']} and committed {max(progress, 0)} micro-batch(es) in "
                f"{self.timing.bake_s:.0f} s (needs {self.timing.min_new_batches})"
            )
        self._step(outcome, f"bake passed: {progress} micro-batches committed")
        return None

    # --- the operations -----------------------------------------------------------------

    def start_fresh(
        self, *, job_driver: dict[str, Any], tags: dict[str, str], role: str, release_bucket: str, release_id: str
    ) -> Outcome:
        outcome = Outcome("started", self.job_name, None, release_id)
        bucket, _ = store.split_uri(self.checkpoint_of(job_driver))
        contract = self.query_contract(release_bucket, release_id)
        recorded = store.read_json_or_none(self.s3, bucket, self._control_key("contract.json"))
        if recorded:
            self.check_resumable(recorded["contract"], contract, f"release {release_id}")
        self.verify_artifacts(release_bucket, release_id)
        outcome.job_run_id = self._start_and_wait(outcome, job_driver=job_driver, tags=tags, role=role)
        self._record_running(bucket, release_id, contract)
        return outcome

    def redeploy(
        self,
        current: dict[str, Any],
        *,
        job_driver: dict[str, Any],
        tags: dict[str, str],
        role: str,
        release_bucket: str,
        release_id: str,
    ) -> Outcome:
        old_release = runs.release_of(current)
        outcome = Outcome("restarted", self.job_name, None, release_id, previous_release_id=old_release)
        checkpoint = self.checkpoint_of(current["jobDriver"])
        if self.checkpoint_of(job_driver) != checkpoint:
            raise CheckpointIncompatibleError(
                f"the new job driver's checkpoint {self.checkpoint_of(job_driver)} is not the running {checkpoint}"
            )
        bucket, _ = store.split_uri(checkpoint)
        old_bucket = urlparse(current["jobDriver"]["sparkSubmit"]["entryPoint"]).netloc or release_bucket
        new_contract = self.query_contract(release_bucket, release_id)
        old_contract = self._running_contract(bucket, old_bucket, old_release)
        self.check_resumable(old_contract, new_contract, f"release {release_id}")
        self.verify_artifacts(release_bucket, release_id)
        self._step(outcome, f"release {release_id} may resume {old_release}'s checkpoint; artifacts verified")

        journal: dict[str, Any] = {
            "phase": "stopping",
            "from_release": old_release,
            "to_release": release_id,
            "checkpoint": checkpoint,
            "previous": {
                "job_run_id": current["jobRunId"],
                "job_driver": current["jobDriver"],
                "tags": current.get("tags") or {},
                "execution_role_arn": current.get("executionRole"),
                "contract": old_contract,
            },
            "next": {"job_driver": job_driver, "tags": tags, "execution_role_arn": role, "contract": new_contract},
            "started_at": self.now().isoformat(),
        }
        # Before anything stops: whatever interrupts this redeploy, the next run can finish or undo it.
        self._write_journal(bucket, journal)
        self._stop_previous(outcome, journal)
        try:
            snapshot = self.snapshot(outcome, current, old_release)
            journal.update(phase="starting", snapshot_id=snapshot["snapshot_id"])
            self._write_journal(bucket, journal)
        except Exception as exc:
            self._abandon(outcome, journal, f"the checkpoint snapshot could not be taken ({_reason(exc)})")
        return self._start_and_bake(outcome, journal, snapshot)

    def _stop_previous(self, outcome: Outcome, journal: dict[str, Any]) -> None:
        run_id = journal["previous"]["job_run_id"]
        try:
            self._cancel(outcome, run_id)
            return
        except Exception as exc:
            why = _reason(exc)
        state = self._run_state(run_id)
        if state in runs.FINAL_STATES:  # the cancel landed; only its answer was lost
            self._step(outcome, f"run {run_id} ended {state}")
            return
        raise RedeployAbandonedError(
            f"{self.job_name}: the redeploy of {journal['to_release']} was abandoned before anything else changed: "
            f"run {run_id} of {journal['from_release']} did not stop ({why}) and is {state or 'in an unknown state'}; "
            "its cancel request stands. The next supervisor run restarts "
            f"{journal['from_release']} if the run has stopped by then, and tries the redeploy again"
        )

    def _abandon(self, outcome: Outcome, journal: dict[str, Any], why: str) -> NoReturn:
        """The new release never started: bring the previous one back on its untouched checkpoint."""
        bucket, _ = store.split_uri(journal["checkpoint"])
        previous, target = journal["from_release"], journal["to_release"]
        try:
            self._stop_all(outcome)
            run_id = self._start_previous(outcome, journal)
        except Exception as exc:
            raise RedeployAbandonedError(
                f"{self.job_name}: the redeploy of {target} was abandoned: {why}; restarting {previous} failed too "
                f"({_reason(exc)}), so nothing runs. The checkpoint is untouched; the next supervisor run restarts "
                f"{previous} from s3://{bucket}/{self._journal_key()}"
            ) from exc
        self._attempt(outcome, "remove the redeploy journal", lambda: self._clear_journal(bucket))
        raise RedeployAbandonedError(
            f"{self.job_name}: the redeploy of {target} was abandoned: {why}; {previous} runs again as run {run_id} "
            f"on its untouched checkpoint, and the next supervisor run tries {target} again"
        )

    def _start_previous(self, outcome: Outcome, journal: dict[str, Any]) -> str:
        previous = journal["previous"]
        return self._start_and_wait(
            outcome, job_driver=previous["job_driver"], tags=previous["tags"], role=previous["execution_role_arn"]
        )

    def _start_and_bake(self, outcome: Outcome, journal: dict[str, Any], snapshot: dict[str, Any]) -> Outcome:
        target = journal["next"]
        outcome.job_run_id = None
        try:
            run_id = self._start_and_wait(
                outcome, job_driver=target["job_driver"], tags=target["tags"], role=target["execution_role_arn"]
            )
            failure = self.bake(outcome, run_id, journal["checkpoint"], snapshot["last_committed_batch"])
        except Exception as exc:  # a refused StartJobRun or an unreadable run fails the redeploy as a crash does
            failure = _reason(exc)
        if failure is not None:
            self._roll_back(outcome, journal, snapshot, failure)
        self._finish(journal)
        return outcome

    def _finish(self, journal: dict[str, Any]) -> None:
        bucket, _ = store.split_uri(journal["checkpoint"])
        self._record_running(bucket, journal["to_release"], journal["next"]["contract"])
        self._clear_journal(bucket)

    def _roll_back(self, outcome: Outcome, journal: dict[str, Any], snapshot: dict[str, Any], failure: str) -> NoReturn:
        bucket, _ = store.split_uri(journal["checkpoint"])
        previous, target = journal["from_release"], journal["to_release"]
        self._step(outcome, f"release {target} failed: {failure}; rolling back")
        journal.update(phase="rolling_back", failure=failure)
        # The mark first: whatever fails below, no later run may start the release that just failed.
        marked = self._attempt(
            outcome,
            f"mark {target} failed",
            lambda: self._mark_failed(bucket, target, failure, snapshot["snapshot_id"]),
        )
        self._attempt(outcome, "update the redeploy journal", lambda: self._write_journal(bucket, journal))
        try:
            self._stop_all(outcome)
            rolled = self._restart_from(outcome, snapshot)
        except Exception as exc:  # the operator needs the snapshot id whatever went wrong
            raise StreamingControlError(
                f"{self.job_name}: release {target} failed ({failure}) and the automatic rollback failed too "
                f"({_reason(exc)}); the next supervisor run retries the rollback, or run "
                f"`cicd streaming rollback --snapshot {snapshot['snapshot_id']}`"
            ) from exc
        if previous:
            self._attempt(
                outcome,
                f"record {previous} as running",
                lambda: self._record_running(bucket, previous, journal["previous"]["contract"]),
            )
        if marked:  # else the journal stays, and the next run writes the mark
            self._attempt(outcome, "remove the redeploy journal", lambda: self._clear_journal(bucket))
        raise RedeployFailedError(
            Outcome(
                "rolled_back",
                self.job_name,
                rolled,
                previous,
                previous_release_id=target,
                snapshot_id=snapshot["snapshot_id"],
                reason=failure,
                steps=outcome.steps,
            )
        )

    def recover(self, bucket: str) -> Outcome | None:
        """Finish or undo what an interrupted redeploy left (its journal); None when there was nothing.

        Raises RedeployFailedError when that means rolling the new release back, and a
        StreamingControlError when it cannot be done yet (the message says why)."""
        journal = self.read_journal(bucket)
        if journal is None:
            return None
        phase, previous, target = journal["phase"], journal["from_release"], journal["to_release"]
        outcome = Outcome("restarted", self.job_name, None, target, previous_release_id=previous)
        self._step(outcome, f"an earlier redeploy from {previous} to {target} stopped while {phase}; resuming it")
        self.settle(outcome)
        listed = runs.runs_of(self.emr, self.application_id, self.job_name)
        holding = [runs.describe(self.emr, self.application_id, run["id"]) for run in listed]
        only = runs.release_of(holding[0]) if len(holding) == 1 else None
        if phase == "stopping":  # the new release never started: the checkpoint is the previous run's
            if not holding:
                outcome.job_run_id = self._start_previous(outcome, journal)
            self._clear_journal(bucket)
            return outcome
        if only == previous:  # an earlier run already put the snapshot back and restarted the previous release
            if phase == "rolling_back" and self.failed_mark(bucket, target) is None:
                self._mark_failed(bucket, target, journal.get("failure") or "rolled back", journal.get("snapshot_id"))
            self._clear_journal(bucket)
            return outcome
        snapshot = self.load_snapshot(bucket, journal["snapshot_id"])
        if phase == "starting" and only == target:
            outcome.job_run_id = run_id = holding[0]["jobRunId"]
            try:
                failure = self.bake(outcome, run_id, journal["checkpoint"], snapshot["last_committed_batch"])
            except Exception as exc:
                failure = _reason(exc)
            if failure is None:
                self._finish(journal)
                return outcome
        else:
            failure = journal.get("failure") or "the new run stopped while no controller was watching it"
        self._roll_back(outcome, journal, snapshot, failure)

    def _running_contract(self, bucket: str, release_bucket: str, release_id: str | None) -> dict[str, Any]:
        """The contract of the running release: its query.json, else what the last start recorded."""
        if release_id:
            try:
                return self.query_contract(release_bucket, release_id)
            except ReleaseArtifactError:
                pass
        recorded = store.read_json_or_none(self.s3, bucket, self._control_key("contract.json"))
        if recorded and recorded.get("release_id") == release_id:
            return dict(recorded["contract"])
        raise ReleaseArtifactError(
            f"cannot tell what query runs on {self.job_name}'s checkpoint (release {release_id}: no query.json, "
            "nothing recorded); refusing to guess whether a new version may resume it"
        )

    def _restart_from(self, outcome: Outcome, snapshot: dict[str, Any]) -> str:
        self.restore(outcome, snapshot)
        role = snapshot.get("execution_role_arn")
        if not role:
            raise StreamingControlError(f"snapshot {snapshot['snapshot_id']} does not record the execution role")
        return self._start_and_wait(outcome, job_driver=snapshot["job_driver"], tags=snapshot["tags"], role=role)

    def rollback(self, checkpoint_bucket: str, snapshot_id: str | None = None) -> Outcome:
        """Back to a snapshot (default: the latest): stop what runs, restore, restart that release, bake."""
        with self.lock(checkpoint_bucket):
            return self._rollback(checkpoint_bucket, snapshot_id)

    def _rollback(self, checkpoint_bucket: str, snapshot_id: str | None) -> Outcome:
        snapshot = self.load_snapshot(checkpoint_bucket, snapshot_id)
        self.settle()
        current = runs.active_run(self.emr, self.application_id, self.job_name)
        outcome = Outcome(
            "rolled_back",
            self.job_name,
            None,
            snapshot["release_id"],
            previous_release_id=runs.release_of(current) if current else None,
            snapshot_id=snapshot["snapshot_id"],
        )
        try:
            self._stop_all(outcome)
            outcome.job_run_id = self._restart_from(outcome, snapshot)
        except Exception as exc:
            raise StreamingControlError(
                f"{self.job_name}: the rollback to snapshot {snapshot['snapshot_id']} failed ({_reason(exc)}); run "
                f"`cicd streaming rollback --snapshot {snapshot['snapshot_id']}` again"
            ) from exc
        failure = self.bake(outcome, outcome.job_run_id, snapshot["checkpoint"], snapshot["last_committed_batch"])
        if failure is not None:
            raise StreamingControlError(f"rolled back to {snapshot['release_id']} but it does not run well: {failure}")
        release_bucket = urlparse(snapshot["job_driver"]["sparkSubmit"]["entryPoint"]).netloc
        if snapshot["release_id"]:
            self._record_running(
                checkpoint_bucket, snapshot["release_id"], self.query_contract(release_bucket, snapshot["release_id"])
            )
        # A rollback by hand supersedes whatever redeploy was interrupted before it.
        self._attempt(outcome, "remove the redeploy journal", lambda: self._clear_journal(checkpoint_bucket))
        return outcome

    def redeploy_running(self, release_bucket: str, release_id: str, *, retry_failed: bool = False) -> Outcome:
        """Move the running job to another release, keeping its configuration (the CLI's redeploy)."""
        current = runs.active_run(self.emr, self.application_id, self.job_name)
        if current is None:
            raise StreamingControlError(
                f"{self.job_name} is not running on {self.application_id}: the supervisor DAG starts it "
                "(its job driver carries the environment's configuration)"
            )
        bucket, _ = store.split_uri(self.checkpoint_of(current["jobDriver"]))
        with self.lock(bucket):
            self.recover(bucket)
            self.settle()
            current = runs.active_run(self.emr, self.application_id, self.job_name)
            if current is None:
                raise StreamingControlError(f"{self.job_name} stopped on {self.application_id}; nothing was changed")
            old_release = runs.release_of(current)
            if old_release == release_id:
                return Outcome("running", self.job_name, current["jobRunId"], release_id)
            if old_release is None:
                raise StreamingControlError(f"cannot tell which release run {current['jobRunId']} executes")
            if self.failed_mark(bucket, release_id) is not None:
                if not retry_failed:
                    raise ReleaseMarkedFailedError(
                        f"release {release_id} already failed its bake for {self.job_name}; retry_failed tries it again"
                    )
                self.clear_failed_mark(bucket, release_id)
            return self.redeploy(
                current,
                job_driver=retarget(current["jobDriver"], old_release, release_id),
                tags={**(current.get("tags") or {}), "release_id": release_id},
                role=current["executionRole"],
                release_bucket=release_bucket,
                release_id=release_id,
            )

    def status(self, checkpoint_bucket: str | None = None) -> dict[str, Any]:
        current = runs.active_run(self.emr, self.application_id, self.job_name)
        report: dict[str, Any] = {"job_name": self.job_name, "running": None, "snapshots": []}
        if current is not None:
            checkpoint = self.checkpoint_of(current["jobDriver"])
            checkpoint_bucket = checkpoint_bucket or store.split_uri(checkpoint)[0]
            report["running"] = {
                "job_run_id": current["jobRunId"],
                "state": current["state"],
                "release_id": runs.release_of(current),
                "checkpoint": checkpoint,
                "last_committed_batch": store.last_committed_batch(self.s3, checkpoint),
            }
        if checkpoint_bucket:
            report["snapshots"] = sorted(
                k.split("/")[-2]
                for k in store.keys(self.s3, checkpoint_bucket, self._snapshots_prefix())
                if k.endswith("/" + SNAPSHOT_MANIFEST)
            )
        return report


def ensure_streaming_job(
    *,
    emr_client: Any,
    pipeline_id: str,
    job_name: str,
    application_id: str,
    execution_role_arn: str,
    release: dict[str, str],
    job_driver: dict[str, Any],
    tags: dict[str, str],
    s3_client: Any = None,
    timing: Timing | None = None,
    **controller_options: Any,
) -> dict[str, str]:
    """The supervisor DAG's call: the job runs the active release, started or safely redeployed.

    Returns {"action": "running" | "started" | "restarted", "job_run_id", "release_id"}; raises a
    StreamingControlError naming the job when it cannot be brought to run the active release:
    RedeployFailedError after a rollback, RedeployAbandonedError when the redeploy stopped before the
    new release ran (the previous one runs again, or the message says why not), ReleaseMarkedFailedError
    while the active release is one that already failed its bake. An interrupted redeploy is finished
    or undone first, from its journal.
    """
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    controller = Controller(
        emr_client, s3_client, application_id, job_name, timing=timing or Timing(), **controller_options
    )
    release_id = release["release_id"]
    bucket, _ = store.split_uri(controller.checkpoint_of(job_driver))
    try:
        with controller.lock(bucket):
            outcome = _ensure(controller, bucket, pipeline_id, release, job_driver, tags, execution_role_arn)
    except StreamingControlError:
        raise
    except Exception as exc:  # reads before any change, or a recovery step: say which job and that it is safe to retry
        raise StreamingControlError(
            f"{pipeline_id}: could not bring {job_name} to release {release_id} ({_reason(exc)}); whatever was "
            "interrupted is in the redeploy journal and the next supervisor run finishes or undoes it"
        ) from exc
    return {"action": outcome.action, "job_run_id": outcome.job_run_id or "", "release_id": release_id}


def _ensure(
    controller: Controller,
    bucket: str,
    pipeline_id: str,
    release: dict[str, str],
    job_driver: dict[str, Any],
    tags: dict[str, str],
    execution_role_arn: str,
) -> Outcome:
    release_id, job_name = release["release_id"], controller.job_name
    controller.recover(bucket)  # an interrupted redeploy is finished or undone before anything else
    controller.settle()
    current = runs.active_run(controller.emr, controller.application_id, job_name)
    if current is not None and runs.release_of(current) == release_id:
        return Outcome("running", job_name, current["jobRunId"], release_id)
    mark = controller.failed_mark(bucket, release_id)
    if mark is not None:
        raise ReleaseMarkedFailedError(
            f"{pipeline_id}: release {release_id} failed its bake at {mark['at']} ({mark['reason']}); "
            f"{job_name} keeps running {runs.release_of(current) if current else 'nothing'}. Roll the release "
            f"back, or retry it with `cicd streaming redeploy --release {release_id} --retry-failed`"
        )
    if current is None:
        return controller.start_fresh(
            job_driver=job_driver,
            tags=tags,
            role=execution_role_arn,
            release_bucket=release["release_bucket"],
            release_id=release_id,
        )
    return controller.redeploy(
        current,
        job_driver=job_driver,
        tags=tags,
        role=execution_role_arn,
        release_bucket=release["release_bucket"],
        release_id=release_id,
    )
