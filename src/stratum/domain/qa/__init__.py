"""Quality assurance: test results from CI, their mapping to requirements, evidence and risk."""
