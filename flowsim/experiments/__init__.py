"""What is run: seeded blocks and chunks of lanes, sweeps, calibration, sensitivity, paired runs."""
