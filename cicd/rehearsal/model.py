"""Cloud time of the same rollback, modelled per step with its source: printed apart from what was measured.

The code plane's steps are the rollback drill's model (cicd/rollback/drill.py, pipeline path), so the two never
disagree. Numbers without a published source say "estimate".
"""

from __future__ import annotations

from typing import Any

from cicd.rollback import drill

EMR_PRE_INIT = "https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/pre-init-capacity.html"


def _code_plane() -> list[dict[str, Any]]:
    steps = []
    for entry in drill.MODEL:
        if "pipeline" in entry["paths"]:
            plane = "dags"
            steps.append({"plane": plane, "step": entry["step"], "low": entry["low"], "high": entry["high"],
                          "source": entry["source"]})  # fmt: skip
    return steps


CLOUD_MODEL: list[dict[str, Any]] = [
    *_code_plane(),
    {
        "plane": "data",
        "step": "ALTER SCHEMA ... SWAP WITH on Snowflake (a metadata operation) and the schema comment",
        "low": 1,
        "high": 5,
        "source": "estimate: two statements on a running warehouse",
    },
    {
        "plane": "streaming",
        "step": "cancel the running job with its shutdown grace (it stops between micro-batches)",
        "low": 10,
        "high": 120,
        "source": "Timing.shutdown_grace_s (120 s) bounds it; a 30 s trigger ends a batch well before",
    },
    {
        "plane": "streaming",
        "step": "EMR Serverless starts the job run (driver and workers) on the streaming application",
        "low": 5,
        "high": 180,
        "source": f"seconds with pre-initialized capacity ({EMR_PRE_INIT}); the platform stack configures "
        "none, so up to a few minutes of worker provisioning: estimate",
    },
    {
        "plane": "streaming",
        "step": "the job's first two micro-batches (what the rollback's bake waits for)",
        "low": 30,
        "high": 90,
        "source": "two triggers of the job's 30 s interval (job.py --trigger-seconds) plus Spark's start: estimate",
    },
]


def modelled_total() -> dict[str, tuple[int, int]]:
    totals: dict[str, tuple[int, int]] = {}
    for entry in CLOUD_MODEL:
        low, high = totals.get(entry["plane"], (0, 0))
        totals[entry["plane"]] = (low + int(entry["low"]), high + int(entry["high"]))
    return totals
