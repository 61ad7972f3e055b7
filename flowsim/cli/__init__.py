"""The `flowsim` command line, a thin layer over the library."""
