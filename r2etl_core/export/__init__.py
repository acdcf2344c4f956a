"""Exports of a trained network for other simulators and neuromorphic hardware (NIR)."""
