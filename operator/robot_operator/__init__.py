"""Kubernetes operator that keeps one healthy Gopherbot robot running per Robot resource."""
