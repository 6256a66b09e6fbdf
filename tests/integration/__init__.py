"""Tests that start real services (PostgreSQL, MLflow server); marked `integration`."""
