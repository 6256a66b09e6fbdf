"""Torch-native, batched DSP behind the registry's tools.

Every function takes audio ``(batch, channels, samples)`` float32, the sample rate,
and one ``(batch,)`` tensor per parameter, and returns audio of the same shape.
"""
