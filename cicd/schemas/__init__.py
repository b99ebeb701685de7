"""Event schemas: Avro compatibility rules, the subjects in the repository and their released history."""
