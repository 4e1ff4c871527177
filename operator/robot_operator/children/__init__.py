"""Pure builders of the Kubernetes objects the operator keeps in place for a Robot (no client, no clock)."""
