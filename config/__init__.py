"""Per-environment settings (dev.yaml, staging.yaml, prod.yaml, delivery.yaml) and their typed model."""

from config.loader import ConfigError, load_all, load_delivery, load_environment
from config.model import DeliveryConfig, EnvironmentConfig, PlatformConfig

__all__ = [
    "ConfigError",
    "DeliveryConfig",
    "EnvironmentConfig",
    "PlatformConfig",
    "load_all",
    "load_delivery",
    "load_environment",
]
