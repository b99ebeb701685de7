"""DAG integrity: parse the DAG folder with the real Airflow, enforce the DAG policy, guard task ids."""
