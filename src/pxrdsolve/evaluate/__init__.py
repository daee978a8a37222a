"""The benchmark harness: targets, metrics (R_wp², structure match, validity), shards, reports."""
