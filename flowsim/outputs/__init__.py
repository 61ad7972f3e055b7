"""What comes out: result rows and files, comparison with reported figures, plots."""
