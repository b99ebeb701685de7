"""Third-party packages the cloud runtimes install, staged so that nothing fetches from the internet.

MWAA and EMR Serverless run in private subnets without internet egress. Everything they would have
downloaded at run time (Python wheels for MWAA, Maven jars for Spark) is pinned in a lock file in
the repository, fetched once by a build step that has network (`make packages`), verified against
the lock's sha256, and staged in S3. The gate validates the declarations offline (`rules.py`).
"""
