"""Processing: ASL workflows, algorithms, the local executor and the jobs API."""
