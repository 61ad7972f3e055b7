"""`python -m flowsim` runs the command line."""

from .launch import main

main()
