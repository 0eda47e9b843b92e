"""Network services on a catalog: ``marc8fast serve`` (:mod:`.serve`) hosts the Connexion
receiver (:mod:`.connexion`, wire format in :mod:`.protocol`, client in :mod:`.client`) and the
Z39.50/SRU service (:mod:`.z3950`)."""
