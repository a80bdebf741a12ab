"""course_lib: the tested library behind the disentanglement course kit's notebooks."""
__version__ = "0.1.0"
