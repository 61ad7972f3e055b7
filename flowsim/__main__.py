"""`python -m flowsim` runs the command line."""

from flowsim.cli.launch import main

main()
