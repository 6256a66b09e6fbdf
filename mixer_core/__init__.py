"""mixer's domain library: audio, tools, the instruction language, data, model, metrics.

Knows nothing of Dagster or MLflow; ``assets`` and ``pipelines`` build on it.
"""
