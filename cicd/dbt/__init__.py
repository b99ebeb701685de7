"""dbt on synthetic data (DuckDB, the Snowflake emulator), compatibility, masking and benchmarks."""

# The synthetic data `cicd dbt build` and the gate build on unless told otherwise.
DEFAULT_SCALE = 1
DEFAULT_SEED = 42
