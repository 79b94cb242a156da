"""`make bench`: the project measured at EU scale against plain-library baselines."""
