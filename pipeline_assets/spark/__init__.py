"""Spark jobs run on EMR Serverless: extract -> pure transform(DataFrame) -> load, main() parses arguments.

Each job is a package `<job_id>/` with `job.py` (the code) and `main.py` (the entry point
spark-submit runs). The release bundle ships `spark/<job_id>/main.py` plus `deps.zip` holding
this package's shared library, the job's package and anything it vendors (see jobs.py).
Nothing here starts Spark at import time.
"""
