"""`distill pipeline recipe.yaml`: the whole path as content-addressed steps (see docs/pipelines.md)."""

from distill.pipeline.recipe import Recipe, load_recipe, parse_recipe
from distill.pipeline.runner import run_pipeline

__all__ = ["Recipe", "load_recipe", "parse_recipe", "run_pipeline"]
