"""distill: knowledge distillation and compression of transformer text classifiers."""

__version__ = "0.1.0"
