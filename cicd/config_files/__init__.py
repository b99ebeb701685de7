"""The YAML files people edit (config/*.yaml, dags/pipelines/*.yaml): checking them and their editor schemas."""
