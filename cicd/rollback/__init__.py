"""Operations on released environments: release history and status, rollback, and the rollback drill."""
