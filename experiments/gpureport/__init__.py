"""The parts of experiments/gpu_report.py: phases under a time limit, the timings, the recipe, the page."""
