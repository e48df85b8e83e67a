"""pinpipe: the Pinterest-style Lambda data pipeline, embedded by default, Kafka/Spark at scale."""

__version__ = "0.1.0"
__all__ = ["__version__"]
