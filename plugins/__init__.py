"""ablate's built-in plugins, installed as ``ablate_plugins``.

They register through the ``ablate`` entry-point group exactly like third-party plugins.
"""
