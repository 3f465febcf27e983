"""Unit and end-to-end tests of the xai Python package (run by tests/run_all.sh)."""
