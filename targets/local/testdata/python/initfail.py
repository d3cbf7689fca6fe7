"""A handler whose module raises while it is imported."""

print("initfail importing")
raise RuntimeError("boom: cannot import as told")
