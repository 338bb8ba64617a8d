"""The synthetic worlds the default benchmark builds offline, each deterministic per seed and written
in the public schema of the dataset it stands in for: authors.py (TOFU), hazard.py (WMDP corpora and
questions). vocab.py holds the word lists they draw from."""
