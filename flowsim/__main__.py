"""`python -m flowsim` runs the command line."""

from .cli import main

main()
