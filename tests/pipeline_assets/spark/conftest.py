import pytest

from pipeline_assets.spark.common.session import local_session

# Test data is tiny: compiling generated code and re-planning adaptively cost more than they save.
TINY_DATA_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false"}


@pytest.fixture(scope="session")
def spark(repo_root):
    """One local[2] session for every Spark test: starting the JVM is the expensive part (~4 s)."""
    session = local_session(cores=2, app_name="pipeline-assets-tests", extra_python_path=repo_root)
    session.sparkContext.setLogLevel("ERROR")
    for key, value in TINY_DATA_CONF.items():
        session.conf.set(key, value)
    yield session
    session.stop()
