"""leverplus: the Lever-Plus v3 reference trainer."""
