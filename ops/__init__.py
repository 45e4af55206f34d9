"""`python -m ops`: the operator's command line (see `ops/__main__.py` and the README)."""
