"""Data services for Globant Enterprise AI: the run-time half (export, publish) and what the build shares.

The build (cicd/dataservices) turns opted-in dbt marts into a bundle per service; this package reads
that bundle inside the publish task, exports the mart to CSV and loads it into a Data Analyst
Assistant. It imports nothing from cicd/ and only what MWAA's Airflow image already has
(boto3, requests, jsonschema, pydantic), because it runs on the Airflow workers.
"""
