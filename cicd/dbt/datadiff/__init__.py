"""What a change does to the data: build the merge base and the change on synthetic data, diff every changed
dbt model by primary key (see docs/dbt.md, "Data diff")."""
