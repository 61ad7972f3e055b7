"""What a user writes: the scenario schema, flow kinds, distributions, parameter paths, observations, located errors."""
