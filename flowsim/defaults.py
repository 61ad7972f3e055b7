"""Defaults a user may change on the command line, in a module that imports nothing.

The command line shows them in its help without loading the model (numpy,
pydantic), which keeps `flowsim --help` fast; the modules that use them import
them from here.
"""

ENGINE = "leap"
"""The engine of run, compare, sweep, calibrate and sensitivity unless `--engine` says otherwise."""
TOLERANCE = 0.25
"""Default 90% half-width of a point value, as a share ('about 5,000' = 3,750-6,250 at 90%)."""
