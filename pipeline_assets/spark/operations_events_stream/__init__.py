"""Operations events: the streaming job from Kafka topic operations.events.v1 to the S3 raw layer."""
