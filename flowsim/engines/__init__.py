"""How a scenario is simulated: the plan of per-lane arrays and the engines that step it."""
