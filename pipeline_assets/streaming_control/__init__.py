"""Streaming job control: start, safe redeploy and rollback of EMR Serverless streaming jobs.

Importable as `pipeline_assets.streaming_control` (repository, cicd) and as top-level
`streaming_control` (copied beside the DAGs on MWAA): internal imports are relative, and it
depends on the standard library, botocore and injected boto3 clients only.
"""

from .contract import incompatibilities
from .control import (
    CheckpointIncompatibleError,
    Controller,
    Outcome,
    RedeployAbandonedError,
    RedeployFailedError,
    ReleaseArtifactError,
    ReleaseMarkedFailedError,
    StreamingControlError,
    Timing,
    ensure_streaming_job,
    retarget,
    sink_uris,
)

__all__ = [
    "CheckpointIncompatibleError",
    "Controller",
    "Outcome",
    "RedeployAbandonedError",
    "RedeployFailedError",
    "ReleaseArtifactError",
    "ReleaseMarkedFailedError",
    "StreamingControlError",
    "Timing",
    "ensure_streaming_job",
    "incompatibilities",
    "retarget",
    "sink_uris",
]
