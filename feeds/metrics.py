"""The service's metrics, in the Prometheus text format (the only module that imports
prometheus_client)."""
