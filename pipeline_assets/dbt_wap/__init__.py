"""dbt write-audit-publish as MWAA workers run it: the release ships this package inside the DAG folder
(cicd/release/parts/dags.py), so it imports nothing from cicd/ and only the standard library at the top."""
