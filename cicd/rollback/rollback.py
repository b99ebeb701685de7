"""Roll an environment back to an earlier release, and report release status.

Order of preference (each step printed with its timing):

1. CodePipeline `RollbackStage` of the environment's stage to the execution that deployed the
   target release: the pipeline's own record of the revert, and the same path as the automatic
   rollback on a failed bake.
2. If the pipeline cannot (API error, no such execution, stage not rollback-able, the rollback
   execution failed, or the history shows the pipeline's structure changed since that execution,
   which is exactly when the automatic rollback could not run either), redeploy the release lane
   stack's stored template from that execution's synth artifact as a CloudFormation change set,
   once the ledger confirms that the template is the one a build of the target release recorded
   (cicd/rollback/provenance.py).

Either way the release activator (a custom resource of the release lane stack) does the switch
and writes the active-release parameter last; the command succeeds only when that parameter names
the target.

Then, in the same command, the planes that do not follow a code rollback by themselves (`Planes`):
the published data is swapped back to the target's publish (write-audit-publish keeps it as the
previous schema), and the streaming job is redeployed to the target from its checkpoint at once
instead of at the supervisor's next run. Each plane is attempted even when another failed; any plane
not back fails the command. Refused up front: an unknown target, the already active release, a release that was
uploaded but never active in this environment (that would be a roll *forward* to untested bytes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from cicd.rollback.history import Activation, HistoryError, activations, previous_distinct, release_info
from cicd.rollback.pipeline import Deployment, PipelineError, find_deployment, start_rollback, wait_for_execution
from cicd.rollback.provenance import ProvenanceError, verify
from cicd.rollback.template import StackTemplate, TemplateError, redeploy, release_stack_template


class RollbackRefusedError(Exception):
    """Nothing was changed: the request makes no sense for this environment (the message says why)."""


class RollbackFailedError(Exception):
    """A rollback was attempted and did not bring the target release live (on every plane it was asked for)."""

    def __init__(self, message: str, result: RollbackResult | None = None) -> None:
        super().__init__(message)
        self.result = result  # what did come back, when the code rollback itself succeeded


@dataclass
class StreamingPlane:
    """The streaming job, moved to the target release from its checkpoint (streaming_control)."""

    controller: Any  # pipeline_assets.streaming_control.Controller
    release_bucket: str


@dataclass
class DataPlane:
    """The published marts, swapped back to the target's publish (pipeline_assets/dbt_wap)."""

    executor: Any  # wap.Executor
    database: str
    schema: str


@dataclass
class Planes:
    streaming: StreamingPlane | None = None
    data: DataPlane | None = None


def _roll_data_back(plane: DataPlane, from_release: str, target: str) -> str:
    from pipeline_assets.dbt_wap import wap

    plan = wap.WapPlan(database=plane.database, target_schema=plane.schema, release_id=from_release, selector="all")
    try:
        return wap.rollback(plan, executor=plane.executor, restores=target).message
    except wap.WapError as exc:
        raise RollbackFailedError(f"data not back to {target}: {exc}") from exc
    except Exception as exc:  # the warehouse's own errors (a lost connection): the other planes still go back
        raise RollbackFailedError(
            f"data not back to {target}: {type(exc).__name__}: {exc} (the swap is one statement: it happened "
            f"or it did not; `cicd dbt wap --rollback --restores {target}` tries again)"
        ) from exc


def _redeploy_stream(plane: StreamingPlane, target: str) -> str:
    from pipeline_assets.streaming_control import StreamingControlError

    try:
        outcome = plane.controller.redeploy_running(plane.release_bucket, target)
    except StreamingControlError as exc:  # its message says what runs now and what happens next
        raise RollbackFailedError(f"streaming job not back to {target}: {exc}") from exc
    except Exception as exc:  # an API error: an interrupted redeploy is in its journal, finished or undone next time
        raise RollbackFailedError(
            f"streaming job not back to {target}: {type(exc).__name__}: {exc} (see `cicd streaming status`; "
            f"`cicd streaming redeploy --release {target}` finishes or undoes an interrupted redeploy and tries again)"
        ) from exc
    return f"{outcome.job_name} {outcome.action} on {target}: run {outcome.job_run_id}"


@dataclass(frozen=True)
class Environment:
    name: str
    stage: str
    pipeline: str
    parameter: str
    release_bucket: str
    release_stack: str | None = None
    evidence_bucket: str | None = None  # the ledger (delivery account): vouches for stored templates


@dataclass
class Clients:
    codepipeline: Any
    cloudformation: Any
    s3: Any
    ssm: Any
    # The pipeline's artifact bucket lives in the delivery account: its own client when that differs.
    artifacts_s3: Any = None

    @property
    def artifacts(self) -> Any:
        return self.artifacts_s3 or self.s3


@dataclass
class Steps:
    """Prints each step as it starts and ends, with the time since the command started."""

    echo: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, Any]]:
        record: dict[str, Any] = {"step": name, "detail": "", "status": "running"}
        begun = self.clock()
        self.echo(f"[{begun - self.started:7.1f}s] {name} ...")
        try:
            yield record
        except Exception as exc:
            record.update(status="failed", seconds=round(self.clock() - begun, 3), detail=str(exc))
            self.records.append(record)
            self.echo(f"{'':10} FAILED after {record['seconds']:.1f}s: {exc}")
            raise
        record.update(status="ok", seconds=round(self.clock() - begun, 3))
        self.records.append(record)
        detail = f": {record['detail']}" if record["detail"] else ""
        self.echo(f"{'':10} ok ({record['seconds']:.1f}s){detail}")

    def note(self, text: str) -> None:
        self.echo(f"[{self.elapsed():7.1f}s]   {text}")


@dataclass
class RollbackResult:
    environment: str
    from_release: str
    to_release: str
    method: str
    reference: str | None
    seconds: float
    fallback_reason: str | None
    steps: list[dict[str, Any]]
    # Seconds from the command's start until each plane ran the target ("dags": the DAG folder and the
    # active-release parameter; "data", "streaming" when those planes were part of the command).
    live_after: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def choose_target(env: Environment, clients: Clients, to: str | None) -> tuple[list[Activation], str]:
    try:
        history = activations(clients.ssm, env.parameter)
    except HistoryError as exc:
        raise RollbackRefusedError(str(exc)) from exc
    current = history[-1]
    known = {a.release_id for a in history}
    if to is None:
        target = previous_distinct(history)
        if target is None:
            raise RollbackRefusedError(
                f"{env.name} has only ever run {current.release_id} ({len(history)} activation(s)): no earlier release"
            )
    elif to == current.release_id:
        raise RollbackRefusedError(
            f"{to} is already the active release of {env.name} (since {current.activated_at:%Y-%m-%d %H:%M:%S} UTC): "
            "nothing to roll back"
        )
    elif to not in known:
        uploaded = release_info(clients.s3, env.release_bucket, to) is not None
        if uploaded:
            raise RollbackRefusedError(
                f"{to} was uploaded but never active in {env.name}: rolling back to it would ship bytes this "
                "environment never ran; promote it through the pipeline instead"
            )
        raise RollbackRefusedError(
            f"unknown release {to}: not in {env.name}'s activation history ({len(history)} activations) and not in "
            f"s3://{env.release_bucket}/releases/ (check the id with `cicd release status --env {env.name}`)"
        )
    else:
        target = to
    if release_info(clients.s3, env.release_bucket, target) is None:
        raise RollbackRefusedError(
            f"{target} is in the history but s3://{env.release_bucket}/releases/{target}/release.json is gone: "
            "the activator could not re-activate it"
        )
    return history, target


def rollback(
    env: Environment,
    clients: Clients,
    *,
    to: str | None = None,
    method: str = "auto",
    artifact: str | None = None,
    dry_run: bool = False,
    timeout_s: float = 900,
    poll_s: float = 10,
    template_bucket: str | None = None,
    cfn_role_arn: str | None = None,
    steps: Steps | None = None,
    sleep: Callable[[float], None] = time.sleep,
    planes: Planes | None = None,
) -> RollbackResult:
    steps = steps or Steps()
    with steps.step("read the release history") as record:
        try:
            history, target = choose_target(env, clients, to)
        except RollbackRefusedError:
            raise
        except HistoryError as exc:
            raise RollbackRefusedError(str(exc)) from exc
        except Exception as exc:  # an AWS read failed: nothing was changed, and running it again is safe
            raise RollbackFailedError(
                f"could not read {env.name}'s release history ({_describe(exc)}); nothing was changed"
            ) from exc
        current = history[-1].release_id
        record["detail"] = f"active {current}, rolling back to {target}"

    deployment: Deployment | None = None
    reason: str | None = None
    with steps.step(f"find the execution of {env.pipeline} that deployed {target} to {env.stage}") as record:
        try:
            deployment = find_deployment(clients.codepipeline, env.pipeline, env.stage, target)
            record["detail"] = f"execution {deployment.pipeline_execution_id}"
        except PipelineError as exc:
            reason = f"{exc.code}: {exc}"
            record["detail"] = f"not found ({reason})"
    # Known before asking: RollbackStage would be refused, so go to the stored template straight away.
    changed = deployment.structure_changed_since() if deployment is not None else None
    if changed:
        reason = f"PipelineVersionChanged: {changed}"

    def result(how: str, reference: str | None) -> RollbackResult:
        return RollbackResult(
            env.name, current, target, how, reference, round(steps.elapsed(), 3), reason, steps.records
        )

    if dry_run:
        plan = "pipeline" if deployment and method != "template" and not changed else "template"
        return result(f"dry-run ({plan})", deployment.pipeline_execution_id if deployment else None)

    reference: str | None = None
    used: str | None = None
    if method == "pipeline" and changed:
        raise RollbackFailedError(f"the pipeline cannot roll back to {target}: {reason}")
    if changed:
        steps.note(f"pipeline rollback not possible ({changed}); falling back to the stored template")
    if method in ("auto", "pipeline") and deployment is not None and not changed:
        try:
            with steps.step(f"RollbackStage {env.pipeline}/{deployment.stage}") as record:
                reference = start_rollback(
                    clients.codepipeline, env.pipeline, deployment.stage, deployment.pipeline_execution_id
                )
                record["detail"] = f"rollback execution {reference}"
        except PipelineError as exc:
            if not isinstance(exc.__cause__, ClientError):
                # No answer is not a refusal: the rollback may be running, and a change set beside it would race it.
                raise RollbackFailedError(
                    f"{exc}: RollbackStage may have started a rollback of {env.pipeline}/{deployment.stage} (its "
                    "answer was lost); look at the pipeline's executions, and run this command again once it settled"
                ) from exc
            reason = f"{exc.code}: {exc}"
        if reference is not None:
            try:
                with steps.step("wait for the rollback execution"):
                    wait_for_execution(
                        clients.codepipeline,
                        env.pipeline,
                        reference,
                        timeout_s=timeout_s,
                        poll_s=poll_s,
                        sleep=sleep,
                        clock=steps.clock,
                        on_status=lambda status: steps.note(f"execution {reference}: {status}"),
                    )
                used = "pipeline"
            except PipelineError as exc:
                if exc.code != "RollbackExecutionFailed":
                    # Started and not known to have ended: a change set now would only race it.
                    raise RollbackFailedError(
                        f"{exc}; rollback execution {reference} was started: watch it in the console, do not start "
                        "a second rollback, and run this command again once it has ended"
                    ) from exc
                reason = f"{exc.code}: {exc}"
        if used is None:
            if method == "pipeline":
                raise RollbackFailedError(f"the pipeline could not roll back ({reason})")
            steps.note(
                f"pipeline rollback not possible ({(reason or '').split(':')[0]}); falling back to the stored template"
            )
    if used is None:
        if method == "pipeline":
            raise RollbackFailedError(f"the pipeline cannot roll back to {target}: {reason}")
        built_by = min(a.activated_at for a in history if a.release_id == target).date()
        reference = _redeploy_stored_template(
            env,
            clients,
            target,
            deployment,
            artifact,
            steps,
            timeout_s,
            poll_s,
            template_bucket,
            cfn_role_arn,
            sleep,
            built_by,
        )
        used = "template"

    with steps.step("verify the active release") as record:
        live = _wait_for_parameter(
            clients.ssm, env.parameter, target, timeout_s=min(timeout_s, 120), sleep=sleep, clock=steps.clock
        )
        record["detail"] = f"{env.parameter} = {live}"
    done = result(used, reference)
    done.live_after["dags"] = round(steps.elapsed(), 3)
    _roll_planes_back(planes or Planes(), current, target, steps, done)
    done.seconds = round(steps.elapsed(), 3)
    return done


def _roll_planes_back(planes: Planes, current: str, target: str, steps: Steps, done: RollbackResult) -> None:
    """Data first (one swap, seconds), then the stream (a restart and a bake); every plane is tried."""
    failures: list[str] = []
    work: list[tuple[str, str, Callable[[], str]]] = []
    if planes.data is not None:
        data = planes.data
        work.append(
            ("data", f"swap the published data back to {target}", lambda: _roll_data_back(data, current, target))
        )
    if planes.streaming is not None:
        stream = planes.streaming
        work.append(
            (
                "streaming",
                f"redeploy the streaming job to {target} from its checkpoint",
                lambda: _redeploy_stream(stream, target),
            )
        )
    for plane, name, action in work:
        try:
            with steps.step(name) as record:
                record["detail"] = action()
        except RollbackFailedError as exc:
            failures.append(str(exc))
            continue
        done.live_after[plane] = round(steps.elapsed(), 3)
    if failures:
        done.seconds = round(steps.elapsed(), 3)
        raise RollbackFailedError(f"{target} is active, but: {'; '.join(failures)}", done)


def _redeploy_stored_template(
    env: Environment,
    clients: Clients,
    target: str,
    deployment: Deployment | None,
    artifact: str | None,
    steps: Steps,
    timeout_s: float,
    poll_s: float,
    template_bucket: str | None,
    cfn_role_arn: str | None,
    sleep: Callable[[float], None],
    built_by: date,
) -> str:
    if artifact:
        bucket, _, key = artifact.removeprefix("s3://").partition("/")
    elif deployment is not None and deployment.synth_artifacts:
        bucket, key = deployment.synth_artifacts[0].bucket, deployment.synth_artifacts[0].key
    else:
        raise RollbackFailedError(
            f"no stored template for {target}: the pipeline does not know the execution that deployed it; "
            "pass --artifact s3://<pipeline artifact bucket>/<key> of that execution's synth output"
        )
    try:
        with steps.step("download the synth artifact") as record:
            archive = clients.artifacts.get_object(Bucket=bucket, Key=key)["Body"].read()
            record["detail"] = f"s3://{bucket}/{key} ({len(archive) / 1e6:.1f} MB)"
        with steps.step("find the release lane template") as record:
            template = release_stack_template(
                archive, stage=env.stage, release_id=target, stack_name=env.release_stack, source=f"s3://{bucket}/{key}"
            )
            record["detail"] = f"{template.stack_name} from {template.source}"
        _verify_against_ledger(env, clients, template, target, steps, built_by)
        with steps.step(f"deploy the stored template of {template.stack_name} (change set)") as record:
            change_set = redeploy(
                clients.cloudformation,
                template,
                release_id=target,
                s3=clients.s3,
                template_bucket=template_bucket,
                role_arn=cfn_role_arn,
                timeout_s=timeout_s,
                poll_s=poll_s,
                sleep=sleep,
                clock=steps.clock,
                step=lambda name, detail: steps.note(f"{name}: {detail}"),
            )
            record["detail"] = change_set
    except TemplateError as exc:
        raise RollbackFailedError(str(exc)) from exc
    return change_set


def _verify_against_ledger(
    env: Environment, clients: Clients, template: StackTemplate, target: str, steps: Steps, built_by: date
) -> None:
    with steps.step("check the template against the ledger") as record:
        if not env.evidence_bucket:
            raise RollbackRefusedError(
                f"cannot verify {template.source} without the ledger: pass --evidence-bucket (output "
                "EvidenceBucketName of the DeliveryAudit stack) or set EVIDENCE_BUCKET; nothing was deployed"
            )
        try:
            vouched = verify(
                clients.artifacts,
                env.evidence_bucket,
                release_id=target,
                stack_name=template.stack_name,
                sha256=template.sha256,
                source=template.source,
                built_by=built_by,
            )
        except ProvenanceError as exc:
            raise RollbackRefusedError(str(exc)) from exc
        record["detail"] = f"sha256 {template.sha256[:12]} as recorded by execution {vouched.execution_id}"


def _wait_for_parameter(
    ssm: Any,
    parameter: str,
    expected: str,
    *,
    timeout_s: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> str:
    started = clock()
    while True:
        try:
            value = str(ssm.get_parameter(Name=parameter)["Parameter"]["Value"]).strip()
        except Exception as exc:  # one unreadable look says nothing about the activation: look again
            value = f"(unreadable: {_describe(exc)})"
        if value == expected:
            return value
        if clock() - started > timeout_s:
            raise RollbackFailedError(
                f"the deployment finished but {parameter} still names {value}, not {expected}: "
                "read the activator's log (Custom::ReleaseActivation) in the release lane stack's events"
            )
        sleep(2)


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        return f"{response['Error'].get('Code', '?')}: {response['Error'].get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"


def status(env: Environment, clients: Clients, *, limit: int = 10) -> dict[str, Any]:
    history = activations(clients.ssm, env.parameter)
    active = history[-1]
    info = release_info(clients.s3, env.release_bucket, active.release_id)
    try:
        deployed_by: str | None = find_deployment(
            clients.codepipeline, env.pipeline, env.stage, active.release_id
        ).pipeline_execution_id
        pipeline_note = None
    except PipelineError as exc:
        deployed_by, pipeline_note = None, f"{exc.code}: {exc}"
    return {
        "environment": env.name,
        "active_release": active.release_id,
        "activated_at": active.activated_at.isoformat(),
        "git_sha": info.git_sha if info else None,
        "build_time": info.build_time if info else None,
        "previous_release": previous_distinct(history),
        "deployed_by_execution": deployed_by,
        "pipeline_note": pipeline_note,
        "history": [
            {
                "version": a.version,
                "release_id": a.release_id,
                "activated_at": a.activated_at.isoformat(),
                "kind": "rollback" if a.reactivation else "deploy",
            }
            for a in reversed(history[-limit:])
        ],
    }
