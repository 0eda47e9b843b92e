"""Network services over the catalog (the Z39.50/SRU server: :mod:`.z3950`)."""
