"""Version of fruit_ext."""
__version__ = '0.1.0'
