"""`cicd rehearse` (make rehearsal): release A, release B, the canary, one rollback, A again; measured.

Exit 0 when every plane is A's again, the stream lost and duplicated nothing, no DAG run mixed A and B and the
marts equal A's by row hash; 1 otherwise (the reasons are printed); 2 when the rehearsal could not be set up.
The whole run is bounded by --timeout: past it, the rehearsal stops, stops every engine it started, and fails.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cicd.options import ExitCode, add_json_option, error, print_json

if TYPE_CHECKING:
    from cicd.rehearsal.scenario import Figures, Options

PLANES = ("dags", "data", "streaming")


def setup_errors() -> tuple[type[BaseException], ...]:
    """What keeps the rehearsal from starting at all (exit 2): a missing toolchain, jars, a B change that drifted.

    Imported here, not at the top: `cicd --help` builds this parser and must not load the engines (boto3)."""
    from cicd.engines.airflow import AirflowEngineError
    from cicd.engines.jars import EngineJarsError
    from cicd.engines.kafka import BrokerError
    from cicd.rehearsal.releases import RehearsalSetupError
    from cicd.rehearsal.scenario import RehearsalError

    return (RehearsalSetupError, RehearsalError, AirflowEngineError, EngineJarsError, BrokerError, FileNotFoundError)


def rehearse(options: Options) -> Figures:
    """The scenario (cicd.rehearsal.scenario.rehearse); tests replace this function."""
    from cicd.rehearsal.scenario import rehearse as run

    return run(options)


def render(figures: Figures, problems: list[str]) -> str:
    from cicd.rehearsal.model import CLOUD_MODEL, modelled_total

    out = [
        f"\n== release rehearsal: A {figures.release_a} -> B {figures.release_b} -> rollback -> A ==",
        "release B changed:",
        *(f"  - {change}" for change in figures.changes),
        f"data-quality canary on B: {'fired' if figures.canary.get('fired') else 'did NOT fire'} "
        f"{figures.canary.get('summary')}",
        "",
        "seconds from the trigger (the canary firing) until A is live, measured here "
        f"(load average {figures.load.get('start', 0):.1f} at start, {figures.load.get('end', 0):.1f} at end):",
    ]
    for plane in PLANES:
        seconds = figures.live_after.get(plane)
        back = figures.planes_back.get(plane)
        state = "A" if back else "NOT A"
        shown = f"{seconds:8.1f}" if seconds is not None else "       -"
        out.append(f"  {plane:10} {shown} s   now {state}: {figures.plane_details.get(plane, '')}")
    measured = [figures.live_after[p] for p in PLANES if p in figures.live_after]
    out.append(f"  {'all':10} {max(measured) if measured else float('nan'):8.1f} s")
    out.append(
        "  what each plane's figure covers: dags = activator through the played pipeline + a 1 s MWAA-style "
        "sync; data = the swap back; streaming = cancel B, snapshot, start A, A's first 2 micro-batches"
    )
    out.append("")
    out.append("modelled in the cloud (not measured here), per step, with its source:")
    for entry in CLOUD_MODEL:
        out.append(f"  {entry['plane']:10} {entry['low']:4d}-{entry['high']:<4d} s  {entry['step']}")
        out.append(f"{'':18}source: {entry['source']}")
    for plane, (low, high) in modelled_total().items():
        out.append(f"  {plane:10} {low:4d}-{high:<4d} s  in all")
    out.append("")
    tally = figures.tally
    if tally is not None:
        out.append(
            f"events by event_id: produced {tally.produced}, landed rows {tally.landed_rows}: "
            f"lost {len(tally.lost)}, duplicated {len(tally.duplicated)}"
        )
    out.append(f"DAG runs: {len(figures.dag_runs)}, mixing A's and B's code: {len(figures.mixed_runs)}")
    for run in figures.dag_runs:
        out.append(
            f"  {run['dag_id']:30} code {','.join(run['code']):4} resolved {run['resolved']}  "
            f"{'ok' if run['ok'] else 'FAILED'} {run['seconds']:.0f}s"
        )
    equal = "yes" if figures.marts_equal else "NO"
    out.append(f"marts equal to A's by row hash: {equal}")
    for name, table in sorted(figures.marts_a.items()):
        b_rows = figures.marts_b.get(name, {}).get("rows")
        after = figures.marts_after.get(name, {})
        out.append(
            f"  {name}: A {table['rows']} rows, B {b_rows} rows, after the rollback {after.get('rows')} rows, "
            f"digest {'=' if after.get('digest') == table['digest'] else '!='} A's"
        )
    out.append("phases (measured): " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in figures.phases.items()))
    out.append("local substitutions: " + "; ".join(figures.substitutions))
    out.append("")
    if figures.aborted:
        out.append(f"stopped early: {figures.aborted}")
    out.append("PASS: everything is A again" if not problems else "FAIL:\n" + "\n".join(f"  - {p}" for p in problems))
    return "\n".join(out)


def as_json(figures: Figures, problems: list[str]) -> dict[str, Any]:
    from cicd.rehearsal.model import CLOUD_MODEL

    data = asdict(figures)
    data["tally"] = figures.tally.as_dict() if figures.tally else None
    data["mixed_runs"] = len(figures.mixed_runs)
    data["marts_equal"] = figures.marts_equal
    data["cloud_model"] = CLOUD_MODEL
    data["problems"] = problems
    return data


def _alarm(seconds: int) -> None:
    from cicd.rehearsal.scenario import RehearsalTimeoutError

    def expired(*_: object) -> None:
        raise RehearsalTimeoutError(f"the rehearsal took longer than --timeout {seconds} s")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cmd_rehearse(args: argparse.Namespace) -> int:
    from cicd.rehearsal.scenario import Options, RehearsalTimeoutError, verdict

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="rehearsal-"))
    options = Options(workdir=workdir, rate_per_s=args.rate, stream_limit_s=args.stream_limit, echo=_progress)
    _progress(f"rehearsal: engines' state in {workdir} (driver logs, broker log, Airflow DB, warehouse)")
    _alarm(args.timeout)
    try:
        figures = rehearse(options)
    except RehearsalTimeoutError as exc:
        return error("rehearsal FAILED", str(exc), ExitCode.FAILED)
    except setup_errors() as exc:  # the scenario's own failures are in the figures; these stopped its set-up
        return error("rehearsal could not run", str(exc))
    finally:
        signal.alarm(0)
    problems = verdict(figures)
    report = as_json(figures, problems)
    (workdir / "rehearsal.json").write_text(json.dumps(report, indent=2, default=str))
    if args.json:
        print_json(report)
    else:
        print(render(figures, problems))
    return ExitCode.OK if not problems else ExitCode.FAILED


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rehearse",
        help="release A, B, the canary and one rollback on real engines here; prints the figures (make rehearsal)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--workdir", help="where the engines keep their state (default: a new temporary folder)")
    parser.add_argument("--rate", type=float, default=20, help="events per second, produced throughout (default 20)")
    parser.add_argument(
        "--stream-limit", type=float, default=600, help="longest wait for a Spark job's first micro-batches (s)"
    )
    # CI (.ci/run) must finish within 40 minutes; make test and make validate take about 20 of them. The
    # rehearsal took 12.5 minutes on a clean clone with a load average of 11 on 2 cores (docs/rehearsal.md).
    parser.add_argument(
        "--timeout", type=int, default=1200, help="the whole rehearsal's limit in seconds (default 1200)"
    )
    add_json_option(parser, "print the figures as JSON on stdout (also written to <workdir>/rehearsal.json)")
    parser.set_defaults(handler=cmd_rehearse)
