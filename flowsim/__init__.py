"""flowsim: scenario modelling of armed-group manpower flows between regions."""

__version__ = "0.1.0"
